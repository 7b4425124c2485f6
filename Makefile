# The two set-up commands are `make demo` and `make test`; both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/poolstats demo --port $(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy poolstats
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy poolstats

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
