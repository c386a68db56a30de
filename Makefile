# signstream: `make demo` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint format install edge-venv clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml requirements-edge.txt requirements-server.txt scripts/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c scripts/constraints.txt -e '.[dev]'
	$(BIN)/python -m shared.hands.task
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/signstream demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The edge side alone: requirements-edge.txt and the package without extras (no TensorFlow).
edge-venv:
	@test -x .venv-edge/bin/python || $(PYTHON) -m venv .venv-edge
	@# test tools only: pytest, hypothesis, and websocket-client for the tests' Socket.IO client (pins as in scripts/constraints.txt)
	.venv-edge/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-edge.txt pytest==9.2.0 hypothesis==6.170.15 \
	  websocket-client==1.9.2
	.venv-edge/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
