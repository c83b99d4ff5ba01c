#!/usr/bin/env bash
# bench.sh runs the benchmarks on loopback and writes docs/BENCHMARKS.md
# (make bench). Extra arguments go to gridbench: -runs N, -devices N,
# -large N, -quick. A full run takes several minutes on 2 cores; the
# figures are medians and ratios measured in the same run, because the
# machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./server/cmd/gridbench -out docs/BENCHMARKS.md "$@"
