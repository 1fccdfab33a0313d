# Two commands do all set-up on a fresh machine with Python, make and pip:
#   make demo   -- install (uv + lockfile) and run the closed-loop demo on embedded defaults
#   make test   -- install and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
# Real public data for `realdata` tests (skipped when absent).
export SOR_REAL_DATA ?= $(abspath ../shared/data/real)
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup browser demo test test-all lint typecheck check bench ui clean

$(UV):
	$(PYTHON) -m pip install --user --quiet "uv>=0.5"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

setup: .venv/.synced

# Headless Chromium and poppler (Debian packages) for the report's browser and PDF render tests;
# installed when missing and apt is usable (root), otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) ; } || \
	  echo "chromium/poppler not installed: browser and PDF render tests will skip"

demo: setup
	$(UV) run --frozen sor-pipeline demo $(DEMO_ARGS)

test: setup browser
	$(UV) run --frozen pytest -n 2 $(PYTEST_ARGS)

test-all: setup browser
	$(UV) run --frozen pytest -n 2 -m "" $(PYTEST_ARGS)

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check sor_pipeline flows schemas tests benchmarks

typecheck: setup
	$(UV) run --frozen mypy

check: lint typecheck test

ui: setup
	$(UV) run --frozen sor-pipeline ui

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache sor_home
