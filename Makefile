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

# Model libraries for the service and every worker host (README "Model libraries"): extras of
# pyproject.toml, comma-separated, e.g. `make install MODEL_EXTRAS=lightgbm,xgboost`; or set
# MODEL_EXTRAS in the environment of every host, so each `make install`/`make run` keeps them.
MODEL_EXTRAS ?=
comma := ,
EXTRAS_STAMP := $(if $(strip $(MODEL_EXTRAS)),$(VENV)/.extras-$(subst $(comma),-,$(strip $(MODEL_EXTRAS))))

.PHONY: run test test-fast lint setup install bench clean-data test-models

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.extras-%: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[$(MODEL_EXTRAS)]"
	touch $@

install: $(VENV)/.installed $(EXTRAS_STAMP)

# The model libraries the tests use (requirements-models.txt); make run does not install them.
$(VENV)/.models-installed: $(VENV)/.installed requirements-models.txt
	$(PY) -m pip install --quiet -r requirements-models.txt
	touch $@

test-models: $(VENV)/.models-installed

setup: install
	$(PY) -m app setup

run: setup
	$(PY) -m app serve --host $(HOST) --port $(PORT)

# Tests that assert how long something takes (marker timing) run alone after the others, so a
# busy machine does not fail them; exit status 5 is "no test selected" (a PYTEST_ARGS filter).
test: install test-models lint
	$(PYTEST) -n $(TEST_WORKERS) --dist worksteal -m "not timing" $(PYTEST_ARGS)
	$(PYTEST) -m timing $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: install test-models
	$(VENV)/bin/ruff check .
	$(PYTEST) -n $(FAST_TEST_WORKERS) --dist worksteal -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench
