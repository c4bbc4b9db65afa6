# `make demo` and `make test` create .venv if missing, install the project, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m experiments.train --env bandit --agent belief --learner ppo --quick --out runs/demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow --durations=15

lint: $(STAMP)
	$(BIN)/ruff check belief_jax envs experiments tests

clean:
	rm -rf runs .pytest_cache
