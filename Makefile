# The two front-door commands:  make run   (set up and serve)   make test   (every test)
# and the developer's loop:      make test-fast   (no MariaDB, Chromium, processes or slow tests)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Tests run in parallel, one pytest-xdist worker per TEST_WORKERS: each has its own temporary
# directory, SQLite files, MariaDB databases (unique names) and free ports. Most of a full run
# waits on servers, workers and the browser, so it takes more workers than the machine has cores.
TEST_WORKERS      ?= 4
FAST_TEST_WORKERS ?= 2
FAST_MARKERS      := not mysql and not browser and not procs and not slow
# Byte code on for the test run (some shells set PYTHONDONTWRITEBYTECODE): pytest keeps the
# assertion rewriting of the tests and its plugins there, about 15 s of every start otherwise.
PYTEST := PYTHONDONTWRITEBYTECODE= $(PY) -m pytest

.PHONY: run test test-fast lint setup install bench clean-data

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

setup: install
	$(PY) -m app setup

run: setup
	$(PY) -m app serve --host $(HOST) --port $(PORT)

# Tests that assert how long something takes (marker timing) run alone after the others, so a
# busy machine does not fail them; exit status 5 is "no test selected" (a PYTEST_ARGS filter).
test: install lint
	$(PYTEST) -n $(TEST_WORKERS) --dist worksteal -m "not timing" $(PYTEST_ARGS)
	$(PYTEST) -m timing $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: install
	$(VENV)/bin/ruff check .
	$(PYTEST) -n $(FAST_TEST_WORKERS) --dist worksteal -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench
