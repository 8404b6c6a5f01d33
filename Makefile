# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint venv frontend tools bench clean

venv: $(VENV)/.installed

# torch first, pinned: it is a CPU build on local disk; a looser spec would pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

# The build lands in orchestra/webapp, inside the Python package, so the wheel serves it too.
frontend: orchestra/webapp/.built

orchestra/webapp/.built: $(shell find frontend -path frontend/node_modules -prune -o -type f -print 2>/dev/null)
	cd frontend && npm ci --no-audit --no-fund && npm run build
	touch $@

# Debian's Chromium drives the browser tests (playwright-core with executablePath);
# docker-compose validates the production compose file (no Docker engine needed for that).
tools:
	@command -v chromium >/dev/null && command -v docker-compose >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose >/dev/null)

run: venv frontend
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py run_embedded --host $(HOST) --port $(PORT)

# Static checks: ruff's lint and format check, TypeScript strict, eslint with the React hooks rules.
# Part of `make test`, so CI fails on any of them.
lint: venv frontend
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd frontend && npm run typecheck && npm run lint

test: venv frontend tools lint
	$(PY) -m pytest -p no:cacheprovider

bench: venv
	$(PIP) install -q -e '.[dev,bench]'
	$(PY) bench/engine_overhead.py
	$(PY) bench/throughput.py
	$(PY) bench/kd_loss.py

clean:
	rm -rf $(VENV) frontend/node_modules orchestra/webapp var
