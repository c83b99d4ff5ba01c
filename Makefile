# gridsync: the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
TOOLS := $(CURDIR)/.tools/bin
export GRIDSYNC_MINIO_BIN ?= $(TOOLS)/minio

.PHONY: run test tools lint bench fuzz build clean screenshots

## run: start the server on the embedded defaults with the demo county (data in ./data)
run:
	$(GO) run ./server/cmd/gridsyncd serve -demo

## test: install what the tests need (MinIO, staticcheck, tus-js-client, Chromium), lint, run every test
test: tools lint
	$(GO) test -count=1 -timeout 20m ./...

## tools: install test dependencies into .tools/ (idempotent)
tools:
	@bash scripts/install-tools.sh

## lint: go.mod tidy, gofmt, go vet, staticcheck
lint:
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

## bench: run the benchmarks and write docs/BENCHMARKS.md and docs/BENCHMARKS-photos.md
bench: tools
	bash scripts/bench.sh

## fuzz: run every fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## screenshots: regenerate docs/screenshots from the dashboard's browser test (needs chromium)
screenshots:
	GRIDSYNC_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestDashboard$$' ./server/web/

## build: build the binaries into bin/
build:
	$(GO) build -o bin/ ./server/cmd/... ./client-sdk/cmd/...

clean:
	rm -rf bin data
