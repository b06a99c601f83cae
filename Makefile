# eduketen: two commands on a fresh machine.
#   make demo   set everything up and run the platform with a synthetic region
#   make test   set everything up and run every test (SQLite, PostgreSQL, HTTPS)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PGBIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin))
export PATH := $(if $(PGBIN),$(PGBIN):,)$(CURDIR)/$(BIN):$(PATH)

DEMO_DIR ?= var/demo
DEMO_PORT ?= 8443
PYTEST_ARGS ?=

.PHONY: demo test bench bench-national reliability security system-deps demo-deps venv clean help

help:
	@echo "make demo   - set up and run eduketen with a synthetic region (DEMO_DIR=$(DEMO_DIR) DEMO_PORT=$(DEMO_PORT))"
	@echo "make test   - set up and run every test, on SQLite and on a throw-away PostgreSQL"
	@echo "make bench  - run every benchmark at a small size (JSON under bench/results/, table in docs/benchmarks.md)"
	@echo "make bench-national - every benchmark at the national size (idle machine, long)"
	@echo "make reliability - load while API, worker and PostgreSQL are killed; prints lost and duplicated"
	@echo "make security - the attack suite over every endpoint; prints attempts made and leaks found"

# Debian packages: DejaVu fonts for the PDF pupil reports (demo and tests); PostgreSQL server
# binaries and wrk for the tests and benchmarks; nginx for the TLS-proxy test (deploy/nginx);
# curl to replay the conformance suite's repeat lines; chromium for the browser tests of the
# staff pages (driven by Playwright, which downloads no browser of its own). Installed only when missing.
define ensure_debs
	@missing=""; \
	for want in $(1); do case $$want in \
	  postgresql) command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql";; \
	  wrk) command -v wrk >/dev/null 2>&1 || missing="$$missing wrk";; \
	  nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx";; \
	  curl) command -v curl >/dev/null 2>&1 || missing="$$missing curl";; \
	  fonts-dejavu-core) [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core";; \
	  chromium) [ -x /usr/bin/chromium ] || missing="$$missing chromium";; \
	esac; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi; \
	fi
endef

system-deps:
	$(call ensure_debs,fonts-dejavu-core postgresql wrk nginx curl chromium)

demo-deps:
	$(call ensure_debs,fonts-dejavu-core)

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: demo-deps venv
	$(BIN)/eduketen demo --dir $(DEMO_DIR) --port $(DEMO_PORT)

test: system-deps venv
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

bench: system-deps venv
	$(BIN)/python bench/run_all.py

bench-national: system-deps venv
	$(BIN)/python bench/run_all.py --national

security: system-deps venv
	$(BIN)/python -m pytest tests/security -q -n 0 -p no:cacheprovider

reliability: system-deps venv
	$(BIN)/eduketen reliability --schools 6 --pupils 20 --clients 6 --phase-seconds 5

clean:
	rm -rf $(VENV) var build *.egg-info
