# Two commands for a newcomer (see README): `make demo` and `make test`.
# Both install the missing system packages (scripts/system-deps: as root with
# apt-get, else it stops with the command to run), create .venv and build the
# pinned control-plane binaries and upstream Prometheus (for kubernetes_sd) on
# first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: deps setup demo demo-chat test lint unit down clean lock image

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

# --durations: CI's log names the slowest tests, where its minutes go.
test: setup lint
	$(BIN)/pytest --durations=40

unit: $(STAMP)
	$(BIN)/pytest -m unit

# The image's dependencies (pyproject.toml's, and the build backend) pinned with
# hashes, for Python 3.11 as in the image; tests/unit/test_requirements_lock.py
# fails when this is stale.
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
		--allow-unsafe --strip-extras --no-emit-find-links --annotation-style=line \
		--build-deps-for=wheel --output-file=requirements.lock pyproject.toml

# The controller image, built with buildah on a local Debian base (no registry).
image: setup
	$(BIN)/python -m e2e.image build

down: $(STAMP)
	$(BIN)/python -m e2e.localcluster down

clean: down
	rm -rf $(VENV)
