# raftha — build, test and try it.
GO      ?= go
BIN     := bin/raftha
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/raftha/raftha/api.Version=$(VERSION)
# Unit and in-process cluster tests. The disk tests (loop devices, root)
# run on their own: other packages' network-namespace setup would copy
# their mounts into private mount namespaces while they run.
PKGS    := ./api/... ./cloud/... ./resources/ebsdev/... ./resources/builtin/... ./config/... ./groupfile/... ./history/... ./iampolicy/... ./fsm/... ./transport/... ./internal/... ./resources ./resources/aws/... ./resources/exec/... ./resources/ip/... ./resources/systemd/... ./resources/gohandler/... ./server/... ./cli/... ./cmd/... ./examples/...
SOLO    := ./resources/disk/...

.PHONY: all build release test lint unit integration bench demo soak clean docs docs-check

all: build

# Static and stripped: one binary runs on every EC2 Linux (Amazon Linux 2,
# RHEL 8, Bottlerocket), whatever its glibc.
BUILDFLAGS := -trimpath -ldflags "-s -w $(LDFLAGS)"

build:
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/raftha

## release: static, stripped binaries for linux/amd64 and linux/arm64
## (Graviton) in dist/, each checked by internal/tools/elfcheck (machine,
## no dynamic loader, stripped, version; no qemu-user here to run arm64),
## then for each: a tarball, a .deb and an .rpm (nfpm), and SHA256SUMS
## (scripts/release-packages; docs/packaging.md).
release:
	@mkdir -p dist
	@for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(BUILDFLAGS) -o dist/raftha-linux-$$arch ./cmd/raftha && \
	  $(GO) run ./internal/tools/elfcheck dist/raftha-linux-$$arch $$arch $(VERSION) || exit 1; \
	done
	@GO=$(GO) scripts/release-packages $(VERSION)

## check-packages: inspect the release packages, install the amd64 .deb
## here (root), run it, purge it (scripts/check-packages).
.PHONY: check-packages
check-packages:
	scripts/check-packages

## test: formatting, vet and every unit and in-process test, with the race detector.
test: lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./internal/tools/notice -check

## unit: a test that fails is run once more alone and, if it passes then,
## printed as FLAKY (see scripts/gotest-rerun); races, panics and
## timeouts are never rerun.
unit:
	GO=$(GO) scripts/gotest-rerun -race -count=1 -timeout 30m -- $(PKGS)
	GO=$(GO) scripts/gotest-rerun -race -count=1 -timeout 10m -- $(SOLO)

## integration: multi-process fault tests in network namespaces (root).
integration: build
	$(GO) test -count=1 -timeout 60m -v ./integration/...

## soak: RUNS runs of every fault-injection scenario (root); the
## resource scenarios (TestFaultRes*) share their RUNS between the two
## fencing modes, at least one run each. The lossy-network scenario holds
## its loss for 10 minutes per profile; about 35 minutes per run.
RUNS ?= 10
soak: build
	RAFTHA_FAULT_RUNS=$(RUNS) RAFTHA_FAULT_LOSS_HOLD=10m $(GO) test -count=1 -timeout $$(( $(RUNS) * 40 + 10 ))m -v -run '^TestFault' ./integration/

## fuzz: each native fuzz target for FUZZTIME (their seed corpora run in
## make test). Minimizing a new input may take FUZZMINTIME (Go's default,
## 60s, would eat a short run).
FUZZTIME    ?= 30s
FUZZMINTIME ?= 5s
.PHONY: fuzz fuzz-fsm fuzz-parsers-api
fuzz: fuzz-fsm fuzz-parsers-api
## fuzz-fsm: the FSM decoder and apply.
fuzz-fsm:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./fsm
## fuzz-parsers-api: the member-file and group-file parsers and the API.
fuzz-parsers-api:
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./groupfile/
	$(GO) test -run '^$$' -fuzz '^FuzzAPIHandlers$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) ./server/

## bench: every figure of the footprint and failover issues (idle RSS and
## CPU of three agent processes, failover times, the lossy-network table as
## root, binary sizes), each printed as it is measured and then in one table
## with its goal and the command that measured it (scripts/bench).
LOSS_HOLD ?= 2m
bench: build
	GO=$(GO) LOSS_HOLD=$(LOSS_HOLD) scripts/bench

## docs: regenerate every output block of README.md and docs/*.md from the
## tool itself (internal/tools/docgen; markers like <!-- output: CMD -->).
## docs-check: the same into memory; fails, naming FILE:LINE, when a block
## differs from a fresh run (a hand edit, or output that changed).
docs: build
	$(GO) run ./internal/tools/docgen
docs-check: build
	$(GO) run ./internal/tools/docgen -check

## demo: a local 3-member cluster on loopback (Ctrl-C to stop).
demo: build
	./$(BIN) demo

clean:
	rm -rf bin dist
