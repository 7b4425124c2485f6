# The two set-up commands are `make demo` and `make test`; both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
STRATUM_PORT ?= 3333
VIA ?= ingest
LOCK := requirements.lock
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.8

.PHONY: install lock demo cluster-demo test lint bench clean

install: $(VENV)/.installed

# Installs come from the committed lock only (exact versions, hashes checked): no release of a
# dependency elsewhere can change what `make test` runs. The project itself is installed
# without build isolation, with the setuptools of the lock, for the same reason.
$(VENV)/.installed: $(LOCK) pyproject.toml
	@# Debian ships venv separately (python3-venv); install it when missing and allowed to.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# Regenerate the lock from pyproject.toml (dependencies, the test extra and the build
# backend), for every platform and Python from 3.11 up. The locking tool is pinned too.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(LOCK_VENV)/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(LOCK_VENV)/bin/uv pip compile pyproject.toml - --extra test --universal \
	    --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS) -o $(LOCK)

demo: install
	$(BIN)/poolstats demo --port $(PORT) --via $(VIA) --stratum-port $(STRATUM_PORT)

# A cluster on this machine's NATS and PostgreSQL (started when stopped): 2 partitions with a
# standby each, a gateway, 2 API replicas, the jobs process and a simulated fleet.
GATEWAY_PORT ?= 8090
cluster-demo: install
	bash scripts/services.sh
	$(BIN)/poolstats cluster-demo --port $(PORT) --gateway-port $(GATEWAY_PORT)

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
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info .pytest_cache .mypy_cache
