# jumeau — see README.md. Every target installs what it needs.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# jumeau version prints these (and falls back to Go's build information).
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
BIN := bin/jumeau
STATICCHECK_VERSION := v0.8.2 # honnef.co/go/tools, staticcheck 2026.1.x line
FUZZTIME ?= 15s
# Minimizing a new interesting input defaults to 60 s and is not bounded by
# -fuzztime: a short run then ends with "context deadline exceeded".
FUZZMINIMIZE ?= 1s
BENCHCOUNT ?= 3
LAB ?= .lab/demo
TESTFLAGS ?=

CHAOS_SEEDS ?= 20
CHAOS_SEED ?= 1
CHAOS_DURATION ?= 20s
E2E_CHAOS_SEEDS ?= 10

.PHONY: build test e2e chaos fuzz bench lint demo clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jumeau

# Unit and integration tests (real Pebble on disk, real QUIC on 127.0.0.1).
test:
	$(GO) test -race -shuffle=on -timeout 20m $(TESTFLAGS) ./...

# End-to-end: real jumeau processes, SIGKILLed.
e2e: build
	$(GO) test -tags e2e -count=1 -timeout 20m ./e2e/ -args -jumeau=$(abspath $(BIN))
	JUMEAU_CHAOS_SEEDS=4 JUMEAU_CHAOS_SEED=101 $(GO) test -race -count=1 -timeout 10m -run '^TestChaos$$' ./failover/
	./scripts/need-chromium.sh
	$(GO) test -tags browser -count=1 -run Browser ./report/

# The randomized failover test over more seeds (CHAOS_SEEDS from CHAOS_SEED,
# CHAOS_DURATION of faults each); every seed's schedule is reproducible.
# Then its lab version (real processes: SIGKILL, SIGSTOP, restarts) over
# E2E_CHAOS_SEEDS seeds, with each seed's schedule and checks in full.
chaos: build
	set -o pipefail; JUMEAU_CHAOS_SEEDS=$(CHAOS_SEEDS) JUMEAU_CHAOS_SEED=$(CHAOS_SEED) JUMEAU_CHAOS_DURATION=$(CHAOS_DURATION) \
	  $(GO) test -race -count=1 -timeout 120m -run '^TestChaos$$' -v ./failover/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|checked:|SPLIT|lost'
	JUMEAU_E2E_CHAOS_SEEDS=$(E2E_CHAOS_SEEDS) JUMEAU_E2E_CHAOS_SEED=$(CHAOS_SEED) JUMEAU_E2E_CHAOS_DURATION=$(CHAOS_DURATION) \
	  $(GO) test -tags e2e -count=1 -timeout 120m -run '^TestLab_Chaos$$' -v ./e2e/ -args -jumeau=$(abspath $(BIN))

# Every fuzz target for FUZZTIME each (go test -fuzz runs one target at a time).
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out while a worker is busy (golang/go#75804,
# fixed in Go 1.27): a run fails here only when it wrote a failing input to
# testdata/fuzz/TARGET/; a deadline failure without one is reported and run
# once more.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    for try in 1 2; do \
	      echo "== $$pkg $$f"; \
	      before=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | sort | tr '\n' ' '); \
	      if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg; then break; fi; \
	      after=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | sort | tr '\n' ' '); \
	      if [ "$$before" != "$$after" ] || [ $$try = 2 ]; then echo "fuzz: $$f failed (see the input under $$dir/testdata/fuzz/$$f)"; exit 1; fi; \
	      echo "fuzz: $$f stopped with no failing input written (golang/go#75804); running it once more"; \
	    done; \
	  done; \
	done

# Go benchmarks (medians over BENCHCOUNT runs with benchstat), then jumeau's
# lab bench and its etcd baseline in the same run (Debian's etcd-server, 3
# members, mutual TLS, fsync on; RUNS runs of OPS puts or MAXTIME each), one line
# comparing their medians (bench-out/compare.txt).
bench: build
	mkdir -p bench-out
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./raftstore/ ./wal/ ./transport/... ./keyring/ ./replicator/ | tee bench-out/go.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench-out/go.txt | tee bench-out/benchstat.txt
	./scripts/bench-lab.sh $(BIN) bench-out
	JUMEAU=$(abspath $(BIN)) ./scripts/bench-etcd.sh bench-out
	./scripts/bench-etcd.sh --compare bench-out

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(strip $(STATICCHECK_VERSION)) ./...

# The main job: a local lab, load, a drill (leader site lost), a report.
demo: build
	./scripts/demo.sh $(BIN) $(LAB)

clean:
	-[ -f $(LAB)/lab.json ] && $(BIN) lab down --dir $(LAB)
	rm -rf bin bench-out .lab
