# Two entry points on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

.PHONY: install system-deps run test lint bench
install: $(BIN)/.installed

system-deps:  ## chromium, chromium-driver, redis-server for the browser and scale-out tests
	bash .ci/system-deps

run: install  ## install and start the dashboard on the built-in digits data
	$(BIN)/python app.py

test: install system-deps  ## install everything and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
