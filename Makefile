# Two entry points on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

.PHONY: install run test lint bench
install: $(BIN)/.installed

run: install  ## install and start the dashboard on the built-in digits data
	$(BIN)/python app.py

test: install  ## install and run the whole test suite (browser tests need chromium)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
