# Two commands for a newcomer (see README): `make demo` and `make test`.
# Both install the missing system packages (scripts/system-deps: as root with
# apt-get, else it stops with the command to run), create .venv and build the
# pinned control-plane binaries and upstream Prometheus (for kubernetes_sd) on
# first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: deps setup demo demo-chat test lint unit down clean

deps:
	@scripts/system-deps

setup: deps $(STAMP)
	@$(BIN)/python -m e2e.localcluster build --link-kubectl $(BIN) >/dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/python -m e2e.demo

demo-chat: setup
	$(BIN)/python -m e2e.demo.chat

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m unit

down: $(STAMP)
	$(BIN)/python -m e2e.localcluster down

clean: down
	rm -rf $(VENV)
