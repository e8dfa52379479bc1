# Two commands on a fresh machine: `make run` serves, `make test` runs every check. Both create .venv when
# it is missing and reinstall when pyproject.toml or the native span scanner changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The local PostgreSQL that the storage tests use; unreachable means those tests skip, except under CI.
export INFERWATCH_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint typecheck pytest proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml hatch_build.py collector/ingest/_span_scan.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml hatch_build.py collector/ingest/_span_scan.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/inferwatch serve

test: lint typecheck pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

# Regenerate the committed inferwatch.v1 code after editing proto/inferwatch/v1/*.proto.
proto: $(VENV)/.installed-test
	$(BIN)/python proto/generate.py

clean:
	rm -rf $(VENV) dist .mypy_cache .ruff_cache .pytest_cache
