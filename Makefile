# border-surge: `make help` lists the targets. The README and .ci/run use these.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA := deploy/local/kafka.sh
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-20s %s\n", $$1, $$2}'

$(BIN)/border-surge: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/border-surge ## Create the virtualenv and install the package with dev tools

system-deps: ## Debian packages the tests use (Chromium, promtool, Alertmanager, openssl), if missing
	deploy/local/system-deps.sh

kafka-fetch: ## Resolve the pinned Apache Kafka jars with Maven (cached in .kafka/)
	$(KAFKA) fetch

kafka-up: ## Start the local Kafka broker (idempotent; waits until it answers)
	$(KAFKA) up

kafka-down: ## Stop the local Kafka broker cleanly (data is kept)
	$(KAFKA) down

kafka-up-secure: ## Start the local broker with a SASL_SSL listener (SCRAM-SHA-512, PLAIN; port 9094)
	$(KAFKA) up-secure

kafka-down-secure: ## Stop the SASL_SSL broker (data, CA and passwords are kept in .kafka/)
	$(KAFKA) down-secure

kafka-logs: ## Tail the broker log
	$(KAFKA) logs

topics: install kafka-up ## Create (or check) the service's topics
	$(BIN)/border-surge topics create

run: install kafka-up ## The main job: broker, topics, worker, 2022 scenario replay, alerts
	$(BIN)/border-surge run

stop: ## Stop the worker started by `make run` and the broker
	-$(BIN)/border-surge stop
	$(KAFKA) down

test: install kafka-up system-deps asyncapi-tools ## Run every test (unit, integration against the real broker)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install asyncapi-tools ## Only the fast unit tests (no broker)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-reliability: install kafka-up ## Only the reliability suite (crash, broker restart, scale-out, hostile input)
	$(BIN)/pytest tests/reliability $(PYTEST_ARGS)

SOAK_RUNS ?= 5
SOAK_TESTS ?= tests/reliability
soak: install kafka-up system-deps ## The reliability suite SOAK_RUNS times (5) with new seeds each run, and a summary (SOAK_TESTS narrows it)
	$(BIN)/python -m tests.reliability.soak --runs $(SOAK_RUNS) $(SOAK_TESTS)

lint: install asyncapi-tools ## ruff, ruff format --check, mypy, import-linter contracts, schema drift, AsyncAPI parser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check streams schemas tests
	$(BIN)/mypy streams schemas
	$(BIN)/lint-imports
	$(BIN)/python -m schemas.export --check
	@$(MAKE) --no-print-directory check-deploy
	node tools/asyncapi/validate.js schemas/asyncapi.yaml

check-deploy: ## promtool: Prometheus configs, rules and rule tests in deploy/prometheus/
	deploy/local/system-deps.sh prometheus
	promtool check config deploy/prometheus/prometheus.yml
	promtool check config deploy/prometheus/prometheus-compose.yml
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml

format: install ## Format the code
	$(BIN)/ruff format streams schemas tests
	$(BIN)/ruff check --fix .

clean: ## Remove caches (keeps the Kafka jars and data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install kafka-fetch kafka-up kafka-down kafka-logs topics run stop test test-unit lint format clean
.PHONY: check-deploy system-deps
.PHONY: test-reliability soak kafka-up-secure kafka-down-secure

# AsyncAPI (schemas/asyncapi.yaml): the official parser and HTML generator, pinned by
# tools/asyncapi/package-lock.json and installed once, like the Kafka jars; no install scripts.
ASYNCAPI_TOOLS := tools/asyncapi/node_modules/.installed

$(ASYNCAPI_TOOLS): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ with npm is needed (Debian: nodejs npm)" >&2; exit 1; }
	cd tools/asyncapi && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

asyncapi-tools: $(ASYNCAPI_TOOLS) ## The pinned AsyncAPI parser and generator (npm ci once, in tools/asyncapi/)

docs: asyncapi-tools ## The topic reference, docs/topics/index.html, rendered from schemas/asyncapi.yaml
	node tools/asyncapi/docs.js schemas/asyncapi.yaml docs/topics

.PHONY: asyncapi-tools docs

# Benchmarks (docs/benchmarks.md): scripts that print and save figures, never tests.
BENCH_EVENTS ?= 1000000
BENCH_DIRECTIONS ?= 200
BENCH_DAYS ?= 14
BENCH_RUNS ?= 3
QUIX_VENV := bench/.venv-quix
QUIX_VERSION ?= 3.28.1

$(QUIX_VENV)/.installed:
	@test -x $(QUIX_VENV)/bin/python || $(PY) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install -q 'quixstreams==$(QUIX_VERSION)'
	@touch $@

bench-quix: $(QUIX_VENV)/.installed ## Quix Streams in its own virtualenv (it pins pydantic < 2.14)

bench: install kafka-up bench-quix ## Benchmarks side by side; results in bench/results/ (BENCH_EVENTS, BENCH_DIRECTIONS, BENCH_RUNS, BENCH_PARTS)
	BENCH_EVENTS=$(BENCH_EVENTS) BENCH_DIRECTIONS=$(BENCH_DIRECTIONS) BENCH_DAYS=$(BENCH_DAYS) \
	BENCH_RUNS=$(BENCH_RUNS) $(BIN)/python bench/run.py

.PHONY: bench bench-quix
