#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module for FUZZTIME each (make fuzz;
# default 30s). Targets are found with `go test -list`, so a new Fuzz
# function is fuzzed without editing this file. New crashers land in the
# package's testdata/fuzz/<Target>/ and fail `make test` until fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
failed=()
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: every target ran for $fuzztime without a failure"
