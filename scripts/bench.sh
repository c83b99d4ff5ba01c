#!/usr/bin/env bash
# bench.sh runs the benchmarks on loopback (make bench): the sync
# benchmarks into docs/BENCHMARKS.md, then photo uploads through the server
# next to direct minio-go PutObject into the same MinIO into
# docs/BENCHMARKS-photos.md (MinIO from GRIDSYNC_MINIO_BIN, which the
# Makefile sets). Extra arguments go to the sync benchmarks: -runs N,
# -devices N, -large N, -quick. A full run takes several minutes on 2
# cores; the figures are medians and ratios measured in the same run,
# because the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./server/cmd/gridbench -out docs/BENCHMARKS.md "$@"
go run ./server/cmd/gridbench -photos
