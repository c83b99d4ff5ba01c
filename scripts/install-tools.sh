#!/usr/bin/env bash
# Installs every tool the tests and lint need into .tools/bin, idempotently.
# CI runs it on a fresh machine through `make test`; nothing is installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools/bin
export GOBIN="$PWD/.tools/bin"

# staticcheck, pinned.
STATICCHECK_VERSION=v0.8.2
if ! .tools/bin/staticcheck -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "installing staticcheck ${STATICCHECK_VERSION}"
  go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi

# MinIO server for the blob store tests.
if [ -f scripts/install-minio.sh ]; then
  bash scripts/install-minio.sh
fi

# Headless Chromium for the station dashboard's browser tests.
if [ -f scripts/install-chromium.sh ]; then
  bash scripts/install-chromium.sh
fi

# tus-js-client, a stock tus client for the upload protocol test.
if [ -f scripts/install-tusjs.sh ]; then
  bash scripts/install-tusjs.sh
fi
