# QuickBooks Online -> Postgres with Meltano. `make demo`, `make test`, `make lint`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python >= 3.11 on PATH (override: make PYTHON=python3.12 ...).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
MELTANO := $(BIN)/meltano

export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Local packages installed editable into .venv (target-postgres-fast once it exists).
# orchestrate/ (Dagster, pinned in its pyproject.toml) adds about 90 s to a fresh install.
PACKAGES := qbo-emulator tap-quickbooks warehouse $(wildcard target-postgres-fast) orchestrate
PACKAGE_FILES := $(wildcard $(addsuffix /pyproject.toml,$(PACKAGES)))
# folder:module pairs that `make lint` checks.
LINT_PACKAGES := qbo-emulator:qbo_emulator tap-quickbooks:tap_quickbooks warehouse:qbo_warehouse \
	orchestrate:qbo_orchestrate \
	$(if $(wildcard target-postgres-fast),target-postgres-fast:target_postgres_fast)

.PHONY: help venv install peers demo demo-clean test test-fast lint reconcile bench bench-quick clean

help:
	@echo "make demo        load the emulated company into Postgres and print what landed"
	@echo "                 (ARGS=\"--realms 3\": three companies at once)"
	@echo "make test        every test suite (emulator, tap, warehouse, pipeline) against real Postgres"
	@echo "make lint        ruff and mypy over every package"
	@echo "make reconcile   compare QuickBooks counts with Postgres (qbo-warehouse reconcile)"
	@echo "make bench       benchmarks beside the peer taps -> bench/results.md (bench-quick: a few minutes)"
	@echo "make demo-clean  forget the demo's database, tokens and state"

# --- environment ------------------------------------------------------------------------------
# Every pip install is held to the versions CI tested: constraints.txt for .venv and the image,
# plugins/constraints.txt for the plugin virtualenvs (scripts/freeze_constraints.py writes both).
$(VENV)/.installed: requirements-dev.txt constraints.txt $(PACKAGE_FILES)
	@if [ -z "$(PYTHON)" ]; then echo "make: Python 3.11 or newer is required (set PYTHON=...)" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e './$(p)[dev]')
	@touch $@

venv: $(VENV)/.installed

# Plugin virtualenvs under .meltano/ (reinstalled only when meltano.yml or the tap changes).
# .meltano/ is private: Meltano writes each run's plugin config (client secret, refresh token,
# database URL) into .meltano/run/ with the default umask, and a killed run leaves it there.
# The utilities (dbt) have pins of their own: dbt-core needs older versions of a few packages the
# tap and targets share (plugins/utilities/constraints.txt).
.meltano/.installed: $(VENV)/.installed meltano.yml plugins/constraints.txt plugins/utilities/constraints.txt tap-quickbooks/pyproject.toml $(wildcard target-postgres-fast/pyproject.toml)
	for kind in extractors loaders; do \
		UV_CONSTRAINT=$(abspath plugins/constraints.txt) PIP_CONSTRAINT=$(abspath plugins/constraints.txt) $(MELTANO) install --plugin-type $$kind || exit 1; \
	done
	UV_CONSTRAINT=$(abspath plugins/utilities/constraints.txt) PIP_CONSTRAINT=$(abspath plugins/utilities/constraints.txt) $(MELTANO) install --plugin-type utilities
	scripts/compile-bytecode
	@mkdir -p .meltano && chmod 700 .meltano && touch $@

install: .meltano/.installed

# --- the two commands -------------------------------------------------------------------------
demo: install
	$(BIN)/python scripts/demo.py $(ARGS)

# The peer taps (singer-io's tap-quickbooks 2.5.0, Airbyte's source-quickbooks 4.0.4), each in its
# own venv under bench/peers/, for the emulator's `peers` test and the benchmarks. Without them
# (e.g. no Python 3.11 for Airbyte's pins) that one test is skipped, and says why.
peers:
	@bench/peers/setup.sh || echo "make: the peer taps could not be set up; the peers test will be skipped" >&2

test: install peers
	scripts/ensure-postgres -- $(BIN)/python scripts/run_tests.py

# One suite or extra pytest arguments: make test-fast SUITES="warehouse ." ARGS="-k idempotent"
test-fast: install
	scripts/ensure-postgres -- $(BIN)/python scripts/run_tests.py $(SUITES) -- -m "not slow" $(ARGS)

lint: venv
	@set -e; for pm in $(LINT_PACKAGES); do \
		p=$${pm%%:*}; m=$${pm##*:}; t=$$(test -d $$p/tests && echo tests); echo "== $$p"; \
		(cd $$p && $(BIN)/ruff check $$m $$t && $(BIN)/ruff format --check $$m $$t && $(BIN)/mypy $$m); \
	done
	@echo "== root (tests, scripts)"
	$(BIN)/ruff check tests scripts
	$(BIN)/ruff format --check tests scripts
	$(BIN)/mypy scripts
	$(BIN)/mypy --allow-untyped-defs --allow-incomplete-defs tests
	@echo "== transform (tests)"
	$(BIN)/ruff check transform/tests
	$(BIN)/ruff format --check transform/tests
	cd transform && $(BIN)/mypy --config-file ../pyproject.toml --allow-untyped-defs --allow-incomplete-defs tests

# Benchmarks (bench/README.md): our tap, the pipeline and the peer taps on one emulator, into the
# Postgres the tests use (started by scripts/ensure-postgres when none answers).
$(VENV)/.bench: $(VENV)/.installed bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	@touch $@

bench: install peers $(VENV)/.bench
	scripts/ensure-postgres -- $(BIN)/python bench/run.py $(ARGS)

bench-quick: install peers $(VENV)/.bench
	scripts/ensure-postgres -- $(BIN)/python bench/run.py --quick $(ARGS)

reconcile: venv
	$(BIN)/qbo-warehouse reconcile $(ARGS)

demo-clean:
	rm -rf .meltano/demo .meltano/tokens/demo
	-test -x $(MELTANO) && $(MELTANO) --environment=demo state clear --force demo:tap-quickbooks-to-target-postgres

clean:
	rm -rf $(VENV) .meltano
