# The whole set-up is two commands: `make run` and `make test`.
SHELL := /bin/bash
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)

.PHONY: run test lint format install clean-db

$(VENV)/.base: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.12 is needed; none found on PATH"; exit 1; }
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Segment's JavaScript libraries, for the client-library tests: reinstalled exactly as locked
# when node_modules is missing or the lock or package.json changed.
CLIENTS := tests/clients
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@bash .ci/ensure-node
	npm ci --prefix $(CLIENTS) --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.base

run: $(VENV)/.base
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_demo
	$(PY) manage.py serve --port $(PORT)

test: $(VENV)/.dev $(CLIENTS)/node_modules/.installed
	@bash .ci/ensure-chromium
	$(VENV)/bin/ruff check .
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests: the suite is misconfigured"; exit 1; fi; \
	exit $$rc

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-db:
	rm -rf var/pgdata
