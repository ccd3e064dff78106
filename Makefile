# Mosaic build. `make run` and `make test` install what is missing by themselves.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
BUF_VERSION := v1.75.0
STATICCHECK_VERSION := v0.8.2
DATA_DIR ?= ./mosaic-data
TEST_TIMEOUT ?= 18m
GOTESTFLAGS ?=
# FUZZTIME is how long `make fuzz` fuzzes each target; `make test` runs
# them for TEST_FUZZTIME each.
FUZZTIME ?= 30s
TEST_FUZZTIME ?= 3s
# FUZZ_TARGETS are package:FuzzName pairs: the gate's protocol decoders and
# the statement measure that guards the parser.
FUZZ_TARGETS := ./proxy:FuzzHandshakeResponse ./proxy:FuzzExecuteParams ./proxy:FuzzSendLongData \
	./proxy:FuzzChangeUser ./proxy:FuzzLoadDataPackets ./proxy/mysqlsrv:FuzzReadPacket ./proxy/mysqlsrv:FuzzCompressRead ./proxy/mysqlsrv:FuzzBulkExecute ./proxy:FuzzDispatch \
	./sqltext:FuzzMeasure

.PHONY: all build run test unit e2e lint fuzz proto bench deps clean vet fmt weed image operator operator-gen operator-test

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

test: deps build weed
	$(MAKE) --no-print-directory lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) ./...
	$(MAKE) --no-print-directory operator-test
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

# UNIT_PKGS are the packages whose tests need no server: no mariadbd, no
# etcd (embedded or not), no weed, no tablet. They run against fakes (the
# memory topo, fake shards and tablets, temp dirs). A package qualifies when
# its tests start nothing, or when each test that does start a server skips
# under -short (proxy, tablet/mysqlconn, tablet/backupstore): `make unit`
# passes -short. tablet, tablet/mysqlctl, tablet/pitr, tablet/vrepl,
# topo/etcdstore, bench and e2e start servers in most tests and stay out.
UNIT_PKGS := ./cmd/... ./keyrange ./mtls/... ./proto/... ./proxy ./proxy/mysqlsrv ./proxy/tabletgw ./recovered ./router/... \
	./sqlerr ./sqltext ./sysconn ./testports ./topo ./topo/memstore ./topo/reconcile \
	./tablet/backupstore/... ./tablet/deadlock ./tablet/failover ./tablet/flavor \
	./tablet/mysqlconn ./tablet/queryservice ./tablet/reparent ./tablet/restorepoint ./tablet/rpcauth \
	./tablet/vrepl/workflow
# E2E_PKGS are the packages with tests that start servers: every package
# outside UNIT_PKGS that has tests, and the unit packages whose server tests
# skip under -short (they run whole here). UNIT_PKGS and E2E_PKGS together
# are ./..., which `make test` runs.
E2E_PKGS := ./e2e/... ./bench ./tablet ./tablet/mysqlctl ./tablet/pitr ./tablet/vrepl \
	./topo/etcdstore/... ./proxy ./proxy/tabletgw ./tablet/mysqlconn ./tablet/backupstore/...
UNIT_TIMEOUT ?= 5m

# unit runs the tests that need no server, with the race detector: about
# a minute on 2 cores.
unit:
	$(GO) test -race -short -count=1 -timeout $(UNIT_TIMEOUT) $(GOTESTFLAGS) $(UNIT_PKGS)

# e2e runs the tests that start mariadbd, etcd, weed or tablets, with the
# flags of `make test`.
e2e: deps build weed
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) $(E2E_PKGS)

# lint runs go vet and staticcheck (checks chosen in staticcheck.conf) on
# the main module and on the operator's.
$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(TOOLS)/staticcheck
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	cd operator && $(GO) vet ./... && $(TOOLS)/staticcheck ./...

# The Kubernetes operator is a Go module of its own (operator/), so that
# client-go and controller-runtime stay out of the main module and its
# binaries. Its tests run against a real kube-apiserver and etcd, which
# scripts/k8s-test-assets.sh builds once per machine (about 15 minutes
# cold) into ~/.cache/mosaic-test/k8s-v1.37.2.
operator:
	@mkdir -p $(BIN)
	cd operator && $(GO) build -o $(BIN)/ ./cmd/mosaic-operator

operator-test:
	cd operator && $(GO) vet ./...
	assets=$$(./scripts/k8s-test-assets.sh) && cd operator && \
		KUBEBUILDER_ASSETS=$$assets $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) ./...

# operator-gen regenerates the operator's deepcopy functions and the CRD
# in deploy/crd from operator/api/v1alpha1.
CONTROLLER_GEN_VERSION := v0.23.0
$(TOOLS)/controller-gen:
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

operator-gen: $(TOOLS)/controller-gen
	cd operator && $(TOOLS)/controller-gen object paths=./api/... \
		crd:allowDangerousTypes=false output:crd:artifacts:config=../deploy/crd paths=./api/...

# image builds the container image (Dockerfile) where docker or podman is
# installed and answers, and says so and succeeds where neither does.
IMAGE ?= mosaic:dev
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: no container engine (docker or podman) on this machine: skipped"; \
	elif ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(CONTAINER_ENGINE) does not answer (no daemon running?): skipped"; \
	else \
		$(CONTAINER_ENGINE) build -t $(IMAGE) . ; \
	fi

# fuzz runs each fuzz target for FUZZTIME (their seed corpora, under
# testdata/fuzz, run in every `go test` anyway). A failing input is written
# to the package's testdata/fuzz/<target>/: commit it with the fix.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME); \
	done

bench: deps build
	$(BIN)/mosaic-bench suite --out bench/results $(BENCH_FLAGS)

# weed builds SeaweedFS's weed, the S3 server of the backup storage tests,
# once per machine into ~/.cache/mosaic-test (scripts/weed.sh; a lock keeps
# concurrent runs from building it twice; a cold build takes a quarter of
# an hour). When it cannot be built the S3 tests skip, saying so.
weed:
	@nice -n 10 ./scripts/weed.sh >/dev/null || echo "*** make weed: SeaweedFS weed could not be built: the S3 backup tests will SKIP ***" >&2

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

vet:
	$(GO) vet ./...
	cd operator && $(GO) vet ./...

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

# proto regenerates the committed Go code from proto/*.proto (buf.yaml,
# buf.gen.yaml). The protos are edition 2023, which Debian's protoc does not
# read; buf compiles them and runs the plugins installed above.
proto: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

clean:
	rm -rf $(BIN)
