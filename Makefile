# convkit: set-up, demo, tests, benchmarks. Everything installs from PyPI and npm by name.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.convkit-setup
DEMO   ?= demo-out

.PHONY: setup demo test test-all fuzz bench clean

setup: $(STAMP) node_modules/.package-lock.json

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools==75.8.0"  # tensorflowjs still imports pkg_resources
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The main job: train the tutorial's model, convert it to every format, inspect and check them all.
demo: setup
	bash bench/demo.sh $(DEMO)

# The test suite (slow tests excluded; they run with test-all).
test: setup
	$(BIN)/python -m pytest -m "not slow" -q

test-all: setup
	$(BIN)/python -m pytest -q

fuzz: setup
	$(BIN)/python -m tests.fuzz.run --inputs 10000

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules $(DEMO) .pytest_cache
