# signet: make demo | make test | make lint | make bench
#
# Tools the tests need (softhsm2, opensc, docker-registry, runc from apt;
# cosign v2/v3, notation, buildkitd/buildctl, crane, staticcheck built with
# Go) are installed by tools/install.sh when missing and cached under
# $(SIGNET_CACHE). Under CI=true a missing tool fails the run.

GO           ?= go
SIGNET_CACHE ?= $(HOME)/.cache/signet
export SIGNET_CACHE
TEST_TIMEOUT ?= 50m
# An execution count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with a bare "context deadline exceeded" when
# the time runs out while a worker is busy (golang/go#75804, fixed in Go 1.27),
# which happened in a make test on a loaded machine with no input to blame.
FUZZTIME     ?= 50000x
PKGS         := ./...
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS      := -X github.com/signet-project/signet/cli.version=$(VERSION)

.PHONY: all build demo test test-race test-unit test-nocgo tools lint fuzz bench bench-smoke frontend-image clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/signet ./cmd/signet

# The demo needs nothing beyond Go: an in-process registry, a sample
# multi-arch catalog, an ephemeral key (a throwaway SoftHSM token when
# softhsm2 is installed, an in-memory key otherwise).
demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/signet demo

tools:
	tools/install.sh all

test: tools
	$(MAKE) lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	cd tools/podman-verify && export GOWORK=off CGO_ENABLED=0 && \
	  $(GO) vet -tags containers_image_openpgp ./... && $(GO) test -count=1 -tags containers_image_openpgp ./...
	$(MAKE) test-race
	$(MAKE) test-nocgo
	$(MAKE) fuzz
	$(MAKE) bench-smoke

# The packages where goroutines share state (the worker pool, the report,
# the HSM session pool, the registry client's caches and locks, the CLI
# whose workers all report and print) once more under the race detector.
RACE_PKGS := ./batch ./hsm ./registry ./signature/cosign ./cli
test-race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Without a C compiler Go builds with cgo off: signet must still build and
# sign with file keys (make demo on a machine with Go alone), and explain
# that pkcs11: keys need a cgo build.
test-nocgo:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/signet ./cmd/signet-frontend
	CGO_ENABLED=0 $(GO) test -count=1 ./hsm/ ./demo/

# Unit tests only: no real parts needed (tests needing them skip outside CI).
test-unit:
	$(GO) test -count=1 -short $(PKGS)

# Each fuzz target runs briefly; a crasher is kept in testdata/fuzz by go test.
fuzz:
	@set -e; for target in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$target/*_test.go | sed 's/^func //'); do \
	    echo "fuzz $$target $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$target; \
	  done; \
	done

lint:
	tools/install.sh staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(SIGNET_CACHE)/bin/staticcheck $(PKGS)

bench: tools
	$(GO) run ./benchmarks/harness -out benchmarks/RESULTS.md

bench-smoke:
	@if [ -d benchmarks/harness ]; then $(GO) run ./benchmarks/harness -smoke; fi

# The BuildKit frontend image, built without a container engine: an OCI
# layout in dist/frontend and, with FRONTEND_IMAGE=host/repo:tag, a push.
# FRONTEND_PLATFORMS=linux/amd64,linux/arm64 cross-compiles more platforms.
frontend-image:
	$(GO) run ./tools/frontend-image -out dist/frontend -version $(VERSION) \
	  $(if $(FRONTEND_IMAGE),-push $(FRONTEND_IMAGE)) $(if $(FRONTEND_PLATFORMS),-platforms $(FRONTEND_PLATFORMS))

clean:
	rm -rf bin dist
