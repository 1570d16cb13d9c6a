# STOA automation: one entry point for people and CI.
#   make demo           the platform's story end to end on local servers (set-up included)
#   make setup          .venv with everything pinned in pyproject.toml/constraints.txt
#   make services-up    OpenBao, Keycloak, Kafka, PostgreSQL, gateway simulators on 127.0.0.1 (endpoints in .stoa/services.env)
#   make services-down  stops them; their data stays in .stoa/ for the next services-up
#   make clean          stops them and removes .stoa/: every secret, user, topic, row and API
#   make test           setup + unit/integration tests + ansible-lint + ansible-test sanity
#   make bench          benchmarks against peer tools (ratios measured in the same run)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Python 3.11 is what the pins are tested with; 3.12/3.13 also satisfy ansible-core 2.19.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLLECTION := collections/ansible_collections/stoa/platform

.PHONY: help demo setup services-up services-down services-status test unit integration lint sanity bench bench-openapi bench-gateway bench-keycloak bench-receiver bench-receiver-faults clean

help:
	@grep -E '^#   make' $(MAKEFILE_LIST) | sed 's/^#   //'

setup: $(STAMP)

# Re-installs only when the dependency definitions change: a second `make setup` is instant.
$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/stoa-demo

services-up: setup
	$(BIN)/stoa-services up

services-down: setup
	$(BIN)/stoa-services down

services-status: setup
	$(BIN)/stoa-services status

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

# Everything, stopping at the first failing stage.
test: setup
	$(BIN)/pytest
	$(MAKE) --no-print-directory lint sanity

lint: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint --profile production --strict

# No container engine here: ansible-test builds its own pinned virtualenvs (--venv).
# Its pip bootstrap comes from a host we cannot reach: serve it from PyPI's pip wheel.
ANSIBLE_TEST_PIP := 24.2
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
sanity: setup
	@mkdir -p $(ANSIBLE_TEST_CACHE)
	@ls $(ANSIBLE_TEST_CACHE)/pip-$(ANSIBLE_TEST_PIP)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip download --quiet --no-deps --dest $(ANSIBLE_TEST_CACHE) pip==$(ANSIBLE_TEST_PIP)
	@cp tests/sanity/get_pip_offline.py $(ANSIBLE_TEST_CACHE)/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
	cd $(COLLECTION) && PATH="$(abspath $(BIN)):$$PATH" ansible-test sanity --venv --python 3.11 --color no

# Measurements against peer tools, printed as ratios (not tests).
bench: bench-openapi bench-gateway bench-keycloak bench-receiver bench-receiver-faults

bench-openapi: setup
	$(BIN)/python benchmarks/openapi_downgrade.py

bench-gateway: setup
	$(BIN)/python benchmarks/gateway_converge.py

bench-keycloak: setup
	$(BIN)/python benchmarks/keycloak_tenant.py

# ansible-rulebook (the peer) gets its own virtualenv, .stoa/bench/rulebook-venv, made on first use.
bench-receiver: setup
	$(BIN)/python benchmarks/receiver_ingest.py

bench-receiver-faults: setup
	$(BIN)/python benchmarks/receiver_faults.py

# STOA_STATE_DIR: the state directory of an instance of one's own (docs/local-services.md).
clean: services-down
	rm -rf "$${STOA_STATE_DIR:-.stoa}" $(COLLECTION)/tests/output
