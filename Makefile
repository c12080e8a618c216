# Hyperscale Design Systems — run `make help` for the targets. Every target works from the repo root.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

SYSTEMS := rate-limiter kvdb video-platform maps-service web-crawler chat-app ad-system
# A system is built once its module exists; the workspace lists the modules to build and test.
BUILT   := $(foreach s,$(SYSTEMS),$(if $(wildcard $(s)/go.mod),$(s)))
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
SYS ?=
# With SYS=name, test and build only that system (plus nothing else).
TEST_MODULES := $(if $(SYS),$(SYS),$(MODULES))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CHECKER := cd deploy/check && GOWORK=off

.PHONY: help build test lint deploy-check demo up load-test check-sys

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  SYS=<system> limits build, test, demo, up and load-test to one of: $(SYSTEMS)"

check-sys:
	@if [ -n "$(SYS)" ] && ! echo " $(SYSTEMS) shared tests " | grep -q " $(SYS) "; then \
		echo "unknown SYS=$(SYS); choose one of: $(SYSTEMS)"; exit 2; fi

build: check-sys ## compile every module (and the deploy checker)
	go build $(addprefix ./,$(addsuffix /...,$(TEST_MODULES)))
	$(CHECKER) go build ./...

test: check-sys ## run every module's tests with the race detector, plus the deploy checks; one summary
	@if [ -n "$(SYS)" ] && [ ! -f "$(SYS)/go.mod" ]; then echo "$(SYS) is not built yet: nothing to test"; exit 0; fi
	@{ go test -race -json -timeout 15m $(addprefix ./,$(addsuffix /...,$(TEST_MODULES))) || echo "go test exit status $$?"; \
	   if [ -z "$(SYS)" ]; then ($(CHECKER) go test -json -timeout 10m ./...) || echo "go test exit status $$?"; fi; \
	 } | go run ./tests/cmd/testreport

lint: ## gofmt check, go vet and staticcheck on every module
	@bad=$$(gofmt -l $(MODULES) $(BUILT) deploy/check); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	go run $(STATICCHECK) $(addprefix ./,$(addsuffix /...,$(MODULES)))
	$(CHECKER) go vet ./...
	$(CHECKER) go run $(STATICCHECK) ./...
	@echo "lint: clean"

deploy-check: ## validate every system's level-0/1/2 deploy files (compose, kustomize, policies)
	$(CHECKER) go run . -root ../..

demo: check-sys ## the main command: a scripted scenario per system on embedded defaults, then a table
	go run ./tests/cmd/demo $(if $(SYS),-sys $(SYS))

up: check-sys ## start a system (SYS=name) or all built systems in the foreground
	@if [ -z "$(BUILT)" ]; then echo "No system is built yet, so there is nothing to start."; exit 0; fi
	@if [ -n "$(SYS)" ]; then \
		if [ ! -f "$(SYS)/go.mod" ]; then echo "$(SYS) is not built yet."; exit 0; fi; \
		$(MAKE) -C $(SYS) up; \
	else $(MAKE) -j $(words $(BUILT)) $(addprefix up-,$(BUILT)); fi

up-%:
	$(MAKE) -C $* up

load-test: check-sys ## open-loop load scenarios with HDR percentiles; reports under reports/
	go run ./tests/cmd/loadtest $(if $(SYS),-sys $(SYS)) $(if $(RATE),-rate $(RATE)) $(if $(DURATION),-duration $(DURATION))
