# convkit: set-up, demo, tests, benchmarks. Everything installs from PyPI and npm by name.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.convkit-setup
DEMO   ?= demo-out

.PHONY: setup setup-browser demo test test-models test-all test-wheel docs lint fuzz bench bench-large bench-macs zoo onnx-zoo clean

setup: $(STAMP) node_modules/.package-lock.json

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools==75.8.0"  # tensorflowjs still imports pkg_resources
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# Optional: the browser for `convkit check --browser chromium` and --tfjs-backend webgl. Debian's Chromium,
# driven by playwright with executable_path set; never 'playwright install', which downloads a browser build.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser: setup
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	$(BIN)/python -m pip install --quiet -c requirements.lock playwright
	$(BIN)/python -c "from convkit.runtimes.tfjs.browser import browser_missing; m = browser_missing(); \
	  print(m or 'Chromium is ready: convkit check --browser chromium'); raise SystemExit(1 if m else 0)"

# The main job: train the tutorial's model, convert it to every format, inspect and check them all.
CK := $(BIN)/convkit
CONVERTED := $(DEMO)/converted

demo: setup
	rm -rf $(DEMO)
	$(CK) train --out $(DEMO)
	$(CK) convert $(DEMO)/my_model.h5 --to tfjs -o $(CONVERTED)/my_model_tfjs
	$(CK) convert $(DEMO)/saved_model/my_model --to tfjs --tfjs-kind graph -o $(CONVERTED)/my_model_tfjs_graph
	$(CK) convert $(DEMO)/my_model.h5 --to keras -o $(CONVERTED)/my_model.keras
	$(CK) convert $(DEMO)/my_model.keras --to h5 -o $(CONVERTED)/my_model.h5
	$(CK) convert $(DEMO)/my_model.keras --to savedmodel -o $(CONVERTED)/my_model_savedmodel
	$(CK) convert $(DEMO)/my_model.keras --to ckpt -o $(CONVERTED)/my_model_ckpt/ckpt
	$(CK) convert $(CONVERTED)/my_model_tfjs --to keras -o $(CONVERTED)/from_tfjs.keras
	$(CK) convert $(DEMO)/my_model.keras --to onnx -o $(CONVERTED)/my_model.onnx
	$(CK) convert $(DEMO)/my_model.keras --to tflite -o $(CONVERTED)/my_model.tflite
	$(CK) convert $(CONVERTED)/my_model_tfjs_graph --to pb -o $(CONVERTED)/from_tfjs_graph.pb
	for path in $(DEMO)/saved_model/my_model $(DEMO)/training_2 $(DEMO)/my_model.h5 $(DEMO)/my_model.keras \
	            $(CONVERTED)/my_model_tfjs $(CONVERTED)/my_model_tfjs_graph $(CONVERTED)/my_model.onnx \
	            $(CONVERTED)/my_model.tflite $(CONVERTED)/from_tfjs_graph.pb; do \
	  $(CK) inspect $$path || exit 1; done
	$(CK) check $(DEMO)/my_model.h5 $(DEMO)/my_model.keras $(DEMO)/saved_model/my_model \
	  $(CONVERTED)/my_model_tfjs $(CONVERTED)/my_model_tfjs_graph $(CONVERTED)/my_model.keras \
	  $(CONVERTED)/my_model.h5 $(CONVERTED)/my_model_savedmodel $(CONVERTED)/my_model_ckpt/ckpt \
	  $(CONVERTED)/from_tfjs.keras $(CONVERTED)/my_model.onnx $(CONVERTED)/my_model.tflite \
	  $(CONVERTED)/from_tfjs_graph.pb \
	  --junit-xml $(DEMO)/check.xml
	$(CK) check --all-formats $(DEMO)/my_model.h5

# The test suite (slow tests excluded; they run with test-all), real-model classes apart (test-models; CI runs both).
test: setup
	$(BIN)/python -m pytest -m "not slow and not models" -q

# One small model per failure class that real files showed: old Keras files, TF.js-written sources, Keras 3
# checkpoint layouts, TF op layers, cuDNN layers, ... (about 2 minutes on 2 cores).
test-models: setup
	$(BIN)/python -m pytest -m "models and not slow" -q

test-all: setup
	$(BIN)/python -m pytest -q

# The built wheel in a fresh venv outside the tree: train with the bundled digits, check a TF.js copy.
test-wheel: setup node_modules/.package-lock.json
	$(BIN)/python -m pytest -q tests/cli/test_wheel.py

# docs/api.md from the docstrings (tests/cli/test_api_doc.py fails when it is stale).
docs: setup
	$(BIN)/python docs/make_api.py

# Static checks on the package: ruff (pyflakes, pycodestyle, bugbear) and mypy.
lint: setup
	$(BIN)/python -m ruff check convkit
	$(BIN)/python -m mypy

fuzz: setup
	$(BIN)/python -m tests.fuzz.run --inputs 10000

bench: setup
	$(BIN)/python bench/run_all.py

# A 2.26 GB Keras model to ONNX with external data, inspected and checked (10 GiB of memory, 7 GB of disk);
# VGG16's SavedModel to a TF.js graph model beside tensorflowjs_converter (8 GiB).
bench-large: setup
	$(BIN)/python bench/large_onnx_bench.py
	$(BIN)/python bench/large_tfjs_graph_bench.py
# MACs of ResNet50 and MobileNetV2 from every format beside the papers and TensorFlow's profiler, and the
# 5,000-node drawing time (about 15 minutes on 2 cores); the table goes to bench/results/macs.md.
bench-macs: setup
	$(BIN)/python bench/macs_bench.py --out bench/results/macs.md

# Every keras.applications architecture from Keras 3 .keras and tf_keras .h5 (the family members from every
# source) to TF.js, .keras, .h5, SavedModel, ONNX and TFLite with convkit, beside tensorflowjs_converter,
# tf2onnx and TFLiteConverter; each output run in its runtime against Keras. A day on 2 cores, resumable:
# each cell is a line of bench/results/zoo.jsonl and a rerun skips those (ZOO="--fresh" starts again); the
# tables go to bench/results/zoo.md (`python bench/zoo.py --report` prints them). ZOO="--arch MobileNetV2" for less.
ZOO ?=
zoo: setup
	nice -n 19 $(BIN)/python bench/zoo.py $(ZOO) --results bench/results/zoo.jsonl --markdown bench/results/zoo.md

# Every zoo architecture of both Keras generations to ONNX through convkit's native writer, each run in
# onnxruntime against Keras (an hour or more on 2 cores); the table lands in bench/results/.
onnx-zoo: setup
	$(BIN)/python bench/onnx_native_zoo.py --json onnx-native-zoo.json --markdown bench/results/onnx-native-zoo.md

clean:
	rm -rf $(VENV) node_modules $(DEMO) .pytest_cache
