# The two set-up commands are `make demo` and `make test`; both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
STRATUM_PORT ?= 3333
VIA ?= ingest

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@# Debian ships venv separately (python3-venv); install it when missing and allowed to.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/poolstats demo --port $(PORT) --via $(VIA) --stratum-port $(STRATUM_PORT)

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
