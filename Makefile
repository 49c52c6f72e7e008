# Executable documentation: every task a developer or CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: install run demo test test-sqlite lint typecheck bench check clean

$(BIN)/wirewatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,apprise]'
	touch $@

install: $(BIN)/wirewatch  ## create .venv and install wirewatch with its dev tools

run: install  ## run the worker on the default SQLite database (var/wirewatch.db)
	$(BIN)/wirewatch run

demo: install  ## see a digest produced from local sample feeds, no internet needed
	$(BIN)/wirewatch demo

test: install  ## the whole test suite, on SQLite and PostgreSQL
	$(BIN)/pytest -q

test-sqlite: install  ## the tests that need no PostgreSQL server
	$(BIN)/pytest -q -k "not postgresql" -m "not postgresql"

lint: install  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy --strict on the package
	$(BIN)/mypy

bench: install  ## every benchmark, printing its figures
	$(BIN)/python bench/match.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/dedup_eval.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/poll_pipeline.py
	$(BIN)/python bench/deliver.py
	$(BIN)/python bench/digest_render.py

check: lint typecheck test  ## what CI runs

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
