# The two commands of the README: `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/pangeo-forge/deploy-action/internal/cli.Version=$(VERSION)

.PHONY: demo test check bench build spec fuzz test-container bench-container test-act actionlint

## demo: the whole lifecycle against the built-in Heroku and GitHub test servers
demo:
	$(GO) run ./cmd/demo

## test: every test, with the race detector (fetches GitHub's OpenAPI description from npm once)
test: spec
	$(GO) test -race -shuffle=on -count=1 ./...

## spec: GitHub's OpenAPI description for the GitHub test server, cached in .cache/
spec:
	sh internal/fake/githubapi/fetch-spec.sh

## check: what CI refuses: unformatted code, vet findings, an untidy go.mod
check:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt would change the files above"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

## fuzz: each fuzz target for FUZZTIME (default 10s), from its seed corpus in testdata/fuzz/
FUZZTIME ?= 10s
FUZZ_TARGETS := FuzzParse:./internal/event FuzzName:./internal/plan FuzzResolve:./internal/plan \
	FuzzFlatten:./internal/secrets FuzzInspect:./internal/secrets FuzzParseIndex:./internal/gitrepo
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}"; \
	done

## bench: the performance figures of docs/performance.md; the critical path (the binary as a process
## beside a naive client) is the median of 3 lifecycles
bench:
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkCriticalPath$$' -benchmem ./...
	$(GO) test -run '^$$' -bench '^BenchmarkCriticalPath$$' -benchtime 3x ./internal/sandbox

## build: the static binary, as the container image has it
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/deploy-action ./cmd/deploy-action

## test-container: the image run under podman as the Actions runner runs it, compared with in-process runs
test-container: spec
	DEPLOY_ACTION_CONTAINER_TEST=1 $(GO) test -race -count=1 -run 'TestVersion|TestSameAsInProcess' -v ./internal/containertest/

## bench-container: the container budgets of docs/performance.md (image size, cold start, first request)
bench-container:
	DEPLOY_ACTION_CONTAINER_TEST=1 $(GO) test -count=1 -run TestBudgets -v ./internal/containertest/

## test-act: the example workflows' lifecycle under nektos/act (a runner no one here wrote) on podman's
## Docker API; act is built once into .cache/ from the Go module proxy, outside this module
ACT_VERSION ?= v0.2.89
ACT := $(CURDIR)/.cache/act-$(ACT_VERSION)/act
test-act: spec $(ACT)
	DEPLOY_ACTION_CONTAINER_TEST=1 DEPLOY_ACTION_ACT=$(ACT) $(GO) test -count=1 -run 'TestAct$$' -v -timeout 30m ./internal/containertest/

$(ACT):
	mkdir -p $(@D)
	cd "$$(mktemp -d)" && GOBIN=$(@D) $(GO) install github.com/nektos/act@$(ACT_VERSION)

## actionlint: lint the workflows in .github/workflows and docs/workflows
actionlint:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 .github/workflows/*.yml docs/workflows/*.yml
