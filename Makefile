# casework: the fixed commands. `make run` and `make test` are all a new user needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
PYTEST_ARGS ?=
FUZZ_RECORDS ?= 10000

.PHONY: help setup infra-up infra-down infra-reset test test-unit fuzz chaos run bench lint typecheck docs lock clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## Python venv, Kafka jars and FerretDB binary (idempotent, cached)
	@bash infra/setup.sh
	@bash scripts/browser.sh

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found: Python 3.11+ is needed" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "ERROR: Python 3.11+ is needed, found $$($(PYTHON) -V)" >&2; exit 1; }
	@echo "python: installing the locked dependencies into $(VENV)/"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	@$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	@touch $@

infra-up: setup ## start Kafka and FerretDB (waits until both answer)
	@bash infra/up.sh

infra-down: ## stop Kafka and FerretDB (data is kept under .local/data)
	@bash infra/down.sh

infra-reset: ## stop and delete all local data
	@bash infra/reset.sh

test: setup ## lint and type-check, then the whole test suite on the real Kafka and FerretDB
	@$(VENV)/bin/ruff check shared services casework tests bench
	@$(VENV)/bin/mypy
	@bash scripts/test.sh $(PYTEST_ARGS)

test-unit: $(STAMP) ## only the unit tests (no servers needed)
	@$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

fuzz: setup ## 10,000 hostile and valid records through the real broker to every service (FUZZ_RECORDS=N)
	@CASEWORK_FUZZ_RECORDS=$(FUZZ_RECORDS) CASEWORK_TEST_WORKERS=0 bash scripts/test.sh tests/e2e/test_fuzz.py -s $(PYTEST_ARGS)

chaos: setup ## 5,000 encounters at 25/s under make run while every service, Kafka and FerretDB are SIGKILLed; a 60 s database outage in a mail burst
	@CASEWORK_OUTAGE_SECONDS=$${CASEWORK_OUTAGE_SECONDS:-60} CASEWORK_TEST_WORKERS=0 bash scripts/test.sh \
		tests/integration/test_notify_outage.py $(PYTEST_ARGS)
	@CASEWORK_CHAOS_ENCOUNTERS=$${CASEWORK_CHAOS_ENCOUNTERS:-5000} CASEWORK_CHAOS_RATE=$${CASEWORK_CHAOS_RATE:-25} \
		CASEWORK_CHAOS_KILLS=$${CASEWORK_CHAOS_KILLS:-2} \
		$(PY) -m pytest -q -p no:cacheprovider -s tests/e2e/test_chaos.py $(PYTEST_ARGS)

run: setup ## the whole system: infra, every service, the dashboard, a demo roster, a mail sink
	@$(PY) -m casework.supervisor  # starts Kafka and FerretDB if needed, and stops what it started; a development run (CASEWORK_ENVIRONMENT=development unless set)

bench: setup ## the benchmarks; results under bench/results/
	@bash infra/up.sh
	@$(PY) -m bench

lint: $(STAMP) ## ruff
	@$(VENV)/bin/ruff check shared services casework tests bench

typecheck: $(STAMP) ## mypy (strict on shared/ and each service's domain, state and rules)
	@$(VENV)/bin/mypy

docs: $(STAMP) ## regenerate the AsyncAPI documents under docs/asyncapi/
	@$(PY) scripts/asyncapi.py --write

lock: ## re-pin requirements.lock from pyproject.toml
	@$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: ## remove the venv and caches (keeps .local/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis tests/artifacts
