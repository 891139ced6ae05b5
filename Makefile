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
FUZZ_EXAMPLES ?= 20000
# uv keeps the pins of the lock it rewrites (-o) unless pyproject.toml no longer allows them;
# the runtime lock takes its versions from requirements.lock (-c), so the two never differ.
UV_COMPILE = $(VENV)/bin/uv pip compile -q --python-version 3.11 --generate-hashes --custom-compile-command 'make lock'

.PHONY: help setup infra-up infra-down infra-reset test test-unit fuzz chaos run bench lint typecheck docs lock clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## Python venv, Kafka jars and FerretDB binary (idempotent, cached)
	@bash infra/setup.sh
	@bash scripts/browser.sh

# Every package is checked against a hash its lock pins: uv (requirements-bootstrap.lock, by
# pip), the dependencies (requirements.lock; wheels only, so no source build fetches unpinned
# build tools) and setuptools, which builds the editable casework (requirements-build.lock, a
# build constraint). `make lock` writes the locks. Where a locked package has no wheel
# (cryptography on an Intel Mac), `make setup WHEELS_ONLY=` builds it from its hashed source,
# with build tools that no lock pins.
WHEELS_ONLY ?= --no-build
LOCKS := requirements-bootstrap.lock requirements.lock requirements-build.lock
$(STAMP): $(LOCKS) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found: Python 3.11+ is needed" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "ERROR: Python 3.11+ is needed, found $$($(PYTHON) -V)" >&2; exit 1; }
	@echo "python: installing the locked dependencies into $(VENV)/"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes --no-deps --only-binary :all: \
		-r requirements-bootstrap.lock
	@$(VENV)/bin/uv pip sync -q --require-hashes $(WHEELS_ONLY) --python $(PY) requirements.lock
	@$(VENV)/bin/uv pip install -q --python $(PY) --no-deps --build-constraints requirements-build.lock \
		--require-build-hashes -e .
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

fuzz: setup ## 20,000 canaries through every reader's error path (FUZZ_EXAMPLES=N), then 10,000 hostile and valid records through the real broker to every service (FUZZ_RECORDS=N)
	@CASEWORK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider --hypothesis-show-statistics \
		tests/unit/test_no_input_in_errors.py
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

lock: ## re-pin the four requirements*.lock (with hashes) from pyproject.toml; keeps every pin that still fits
	@test -x $(VENV)/bin/uv || { echo "ERROR: $(VENV)/bin/uv is missing: run make setup first" >&2; exit 1; }
	@$(UV_COMPILE) pyproject.toml --extra dev -o requirements.lock
	@$(UV_COMPILE) pyproject.toml -c requirements.lock -o requirements-runtime.lock
	@echo "uv==$(UV_VERSION)" | $(UV_COMPILE) - -o requirements-bootstrap.lock
	@$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) - -o requirements-build.lock

clean: ## remove the venv and caches (keeps .local/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis tests/artifacts
