# Two entry points on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .  # the package itself (editable) + `hill-dash`
	touch $@

.PHONY: install system-deps run test test-fast test-random lint bench
install: $(BIN)/.installed

system-deps:  ## chromium, chromium-driver, redis-server for the browser and scale-out tests
	bash .ci/system-deps

run: install  ## install and start the dashboard on the built-in digits data
	$(BIN)/python app.py

# two workers (two cores); a file's tests stay on one worker (module fixtures: Redis, apps)
XDIST := -n 2 --dist loadfile

test: install system-deps  ## install everything and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: install  ## everything but the browser and Redis tests
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(XDIST) -m "not browser and not redis"

test-random: install  ## the fast tier in reverse and in a random order (order leaks)
	$(BIN)/python -m pytest -q $(XDIST) -m "not browser and not redis" --test-order=reverse
	$(BIN)/python -m pytest -q $(XDIST) -m "not browser and not redis" --test-order=random

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
