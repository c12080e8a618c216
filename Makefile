# Hyperscale Design Systems — run `make help` for the targets. Every target works from the repo root.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

SYSTEMS := rate-limiter kvdb video-platform maps-service web-crawler chat-app ad-system
# A system is built once its module exists; the workspace lists the modules to build and test.
BUILT   := $(strip $(foreach s,$(SYSTEMS),$(if $(wildcard $(s)/go.mod),$(s))))
# A system can be started once it has its own Makefile (with an `up` target); a module may exist
# before that, while its first packages are built.
RUNNABLE := $(strip $(foreach s,$(SYSTEMS),$(if $(wildcard $(s)/Makefile),$(s))))
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
SYS ?=
ifneq ($(SYS),)
ifeq ($(filter $(SYS),$(SYSTEMS) shared tests),)
$(error unknown SYS=$(SYS); choose one of: $(SYSTEMS) (or shared, tests))
endif
endif
# MISSING is set when SYS names a system whose module does not exist yet.
MISSING := $(if $(SYS),$(if $(wildcard $(SYS)/go.mod),,yes))
# With SYS=name, build and test only that module.
TEST_MODULES := $(if $(SYS),$(SYS),$(MODULES))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CHECKER := cd deploy/check && GOWORK=off

.PHONY: help build test lint deploy-check demo up load-test

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  SYS=<system> limits build, test, demo, up and load-test to one of: $(SYSTEMS)"

build: ## compile every module (and the deploy checker)
ifeq ($(MISSING),yes)
	@echo "$(SYS) is not built yet: nothing to compile"
else
	go build $(addprefix ./,$(addsuffix /...,$(TEST_MODULES)))
	$(CHECKER) go build ./...
endif

# -count=1: never reuse cached results — a cached pass says nothing about the Redis or PostgreSQL
# that the service-backed tests would talk to now.
test: ## run every module's tests with the race detector, plus the deploy checks; one summary
ifeq ($(MISSING),yes)
	@echo "$(SYS) is not built yet: nothing to test"
else
	@{ go test -race -count=1 -json -timeout 15m $(addprefix ./,$(addsuffix /...,$(TEST_MODULES))) || echo "go test exit status $$?"; \
	   if [ -z "$(SYS)" ]; then ($(CHECKER) go test -count=1 -json -timeout 10m ./...) || echo "go test exit status $$?"; fi; \
	 } | go run ./tests/cmd/testreport
endif

lint: ## gofmt check, go vet and staticcheck on every module
	@bad=$$(gofmt -l $(MODULES) $(BUILT) deploy/check); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	go run $(STATICCHECK) $(addprefix ./,$(addsuffix /...,$(MODULES)))
	$(CHECKER) go vet ./...
	$(CHECKER) go run $(STATICCHECK) ./...
	@echo "lint: clean"

deploy-check: ## validate every system's level-0/1/2 deploy files (compose, kustomize, policies)
	$(CHECKER) go run . -root ../..

demo: ## the main command: a scripted scenario per system on embedded defaults, then a table
	go run ./tests/cmd/demo $(if $(SYS),-sys $(SYS))

up: ## start a system (SYS=name) or all built systems in the foreground
ifneq ($(SYS),)
ifeq ($(filter $(SYS),$(RUNNABLE)),)
	@echo "$(SYS) has no services to start yet."
else
	$(MAKE) -C $(SYS) up
endif
else ifeq ($(RUNNABLE),)
	@echo "No system is built yet, so there is nothing to start."
else
	$(MAKE) -j $(words $(RUNNABLE)) $(addprefix up-,$(RUNNABLE))
endif

up-%:
	$(MAKE) -C $* up

load-test: ## open-loop load scenarios with HDR percentiles; reports under reports/
	go run ./tests/cmd/loadtest $(if $(SYS),-sys $(SYS)) $(if $(RATE),-rate $(RATE)) $(if $(DURATION),-duration $(DURATION))
