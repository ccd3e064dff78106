# Mosaic build. `make run` and `make test` install what is missing by themselves.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
DATA_DIR ?= ./mosaic-data
TEST_TIMEOUT ?= 14m
GOTESTFLAGS ?=

.PHONY: all build run test proto bench deps clean vet fmt

all: build

# deps installs MariaDB (and sysbench, used by the driver tests and the
# benchmark) with apt when they are missing. It needs root on Debian.
deps:
	@./scripts/deps.sh

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/mosaic ./cmd/mosaicctl ./cmd/mosaic-bench

run: deps build
	$(BIN)/mosaic up --data-dir $(DATA_DIR) $(RUN_FLAGS)

test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) ./...

bench: deps build
	$(BIN)/mosaic-bench suite --out bench/results $(BENCH_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

vet:
	$(GO) vet ./...

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# proto regenerates the committed Go code from proto/*.proto.
proto: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	@command -v protoc >/dev/null || ./scripts/deps.sh protoc
	PATH=$(TOOLS):$$PATH protoc -I proto \
		--go_out=. --go_opt=module=github.com/mosaicdb/mosaic \
		--go-grpc_out=. --go-grpc_opt=module=github.com/mosaicdb/mosaic \
		proto/*.proto

clean:
	rm -rf $(BIN)
