#!/usr/bin/env bash
# install-minio.sh installs the pinned MinIO server as <repo>/.tools/bin/minio,
# for the tests that need a real object store (internal/miniotest).
#
# It is idempotent: when that binary already runs and was built from the
# pinned version, nothing is built, because building MinIO takes several
# minutes on a small machine. Bumping MINIO_VERSION rebuilds it.
#
# The version is pinned so every machine tests against the same server; the
# Go module proxy serves this pseudo-version.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${repo_root}/.tools/bin"
minio_bin="${bin_dir}/minio"

# The module version recorded in the binary's build info (empty if none).
built_version() {
	go version -m "${minio_bin}" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/minio/minio" { print $3 }'
}

if [[ -x "${minio_bin}" ]] && "${minio_bin}" --version >/dev/null 2>&1 && [[ "$(built_version)" == "${MINIO_VERSION}" ]]; then
	echo "minio ${MINIO_VERSION} already installed: ${minio_bin}"
	exit 0
fi

echo "installing github.com/minio/minio@${MINIO_VERSION} into ${bin_dir} (a cold build takes several minutes)"
mkdir -p "${bin_dir}"
start=${SECONDS}
GOBIN="${bin_dir}" go install "github.com/minio/minio@${MINIO_VERSION}"
"${minio_bin}" --version | head -n 1
echo "minio installed in $((SECONDS - start))s: ${minio_bin}"
