#!/usr/bin/env bash
# make bench: the sync benchmarks (docs/BENCHMARKS.md), then photo uploads
# through the server against direct minio-go PutObject into the same MinIO
# (docs/BENCHMARKS-photos.md; MinIO from GRIDSYNC_MINIO_BIN, which the
# Makefile sets). Extra arguments go to the sync benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./server/cmd/gridbench "$@"
go run ./server/cmd/gridbench -photos
