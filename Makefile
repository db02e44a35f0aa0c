# jetlog — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

MODULES := libs services/enricher services/indexer services/gateway services/alerter services/notifier cmd/jetlog loadtest examples
BIN     := build/bin
OPENSEARCH := infra/opensearch/opensearch.sh
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m
FUZZ_TIME ?=
BENCH_ARGS ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install the tools tests need that Go does not bring (promtool, Alertmanager)
	@scripts/install-deps.sh

.PHONY: build
build: ## build every binary into build/bin
	@mkdir -p $(BIN)
	go build -o $(BIN)/jetlog ./cmd/jetlog
	go build -o $(BIN)/enricher ./services/enricher
	go build -o $(BIN)/indexer ./services/indexer
	go build -o $(BIN)/gateway ./services/gateway
	go build -o $(BIN)/notifier ./services/notifier
	go build -o $(BIN)/alerter ./services/alerter

.PHONY: run
run: opensearch-up build ## run the whole pipeline: embedded NATS + workers + the local OpenSearch
	$(BIN)/jetlog run -set nats.server.store_dir=build/data/nats $(ARGS)

.PHONY: test
test: deps opensearch-up vet ## run every module's tests (starts the local OpenSearch) and a short fuzz pass
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GO_TEST_FLAGS) ./...); done
	@scripts/fuzz_test.sh
	@$(MAKE) --no-print-directory fuzz
	@echo "tests passed; the local OpenSearch is still running (make opensearch-down stops it)"

.PHONY: vet
vet: ## go vet every module
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done

.PHONY: lint
lint: vet ## go vet, plus staticcheck when it can be installed
	@if go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -version >/dev/null 2>&1; then \
		set -e; for m in $(MODULES); do (cd $$m && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...); done; \
	else echo "staticcheck not installable here; go vet only"; fi

.PHONY: fuzz
fuzz: ## run every fuzz target for its execution budget (scripts/fuzz-budgets.txt); FUZZ_TIME=2m or =500000x each for longer
	@scripts/fuzz.sh $(FUZZ_TIME)

.PHONY: bench
bench: ## run the load-test harness, every scenario (about 20 min on 2 cores); writes loadtest/results/ (OPENSEARCH_URL=… to use a running node; BENCH_ARGS=-help)
	@if [ -z "$$OPENSEARCH_URL" ]; then $(OPENSEARCH) up; fi
	cd loadtest && go run ./cmd/jetlog-bench $(BENCH_ARGS)

.PHONY: bench-notify
bench-notify: deps ## measure the notifier against Alertmanager on the same work (about 2 min); writes loadtest/results/notify.md
	cd loadtest && go run ./cmd/notify-bench $(NOTIFY_BENCH_ARGS)

# make bench runs the notifier's measurement too.
bench: bench-notify

.PHONY: opensearch-up
opensearch-up: ## build (first time) and start the local OpenSearch, wait until healthy
	@$(OPENSEARCH) up

.PHONY: opensearch-down
opensearch-down: ## stop the local OpenSearch
	@$(OPENSEARCH) down

.PHONY: opensearch-logs
opensearch-logs: ## show the local OpenSearch's log
	@$(OPENSEARCH) logs

.PHONY: clean
clean: opensearch-down ## stop OpenSearch and remove build/ (jars stay in ~/.m2)
	rm -rf build
