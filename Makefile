# Two commands: `make run` (install, migrate, demo data, serve on :8000) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test system-deps lint clean

run: install
	$(BIN)/bansou migrate
	$(BIN)/bansou demo
	$(BIN)/bansou serve --host 127.0.0.1 --port 8000

test: install-test system-deps
	VENV=$(VENV) scripts/run-tests

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

# PostgreSQL server binaries (for the second test pass) and Chromium (browser tests), from
# Debian's packages, installed only when missing and only when we may (root).
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	   { ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; }; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null; \
	fi

lint:
	$(BIN)/ruff check app tests bench alembic
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bansou.db bansou.db-wal bansou.db-shm
