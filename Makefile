# The README's commands. Everything is idempotent: steps already done are skipped.
SHELL := /bin/bash
VENV ?= .venv

.PHONY: help setup run up down status test test-unit test-integration stress lint prompts clean-run

help:
	@echo "make run     set up what is missing and run the hotline in the foreground"
	@echo "make up      the same in the background; make down stops it; make status"
	@echo "make test    set up, type-check (mypy) and run the whole test suite (unit + real Asterisk/SIPp/PostgreSQL)"
	@echo "make stress  the integration suite 5 times in a row under stress-ng (RUNS=n)"
	@echo "make lint    ruff and mypy (strict)"

setup:
	@scripts/setup.sh

run: setup
	@scripts/stack.sh run

up: setup
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

prompts:
	@scripts/prompts.sh

test: setup
	@scripts/test.sh $(PYTEST_ARGS)

stress: setup
	@scripts/stress.sh $(or $(RUNS),5) $(PYTEST_ARGS)

test-unit: setup
	$(VENV)/bin/pytest -p no:cacheprovider tests/unit $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check callcenter tests bench scripts
	$(VENV)/bin/ruff format --check callcenter tests bench scripts
	$(VENV)/bin/mypy

clean-run: down
	rm -rf run
