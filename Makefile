# The README's two commands: `make demo` runs the main job end to end, `make test` runs every test.
# Both run `make setup`, which installs everything they need (pinned) on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH); tests find the venv's tools on PATH.
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
export CARGO_TERM_COLOR := never
BIN := $(ROOT)/target/release
BUILD := $(ROOT)/build
OUT := $(ROOT)/out
export MVT_BIN_DIR := $(BIN)
export MVT_BUILD_DIR := $(BUILD)
export MVT_OLDEST_ORT_PYTHON := $(ROOT)/.venv-ort-oldest/bin/python

.PHONY: setup build lint test test-rust test-python test-cpp demo fixtures header clean install uninstall dist wheel bench

setup: $(VENV)/.installed $(VENV)/.mvt-editable $(ROOT)/.venv-ort-oldest/.installed
	@command -v cmake >/dev/null || { apt-get update -q && apt-get install -y -q cmake; }

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --no-deps -r requirements.txt
	touch $@

# The Python package (python/) in editable form: the demos, the tests and `python -m mvt` import python/mvt, which
# loads target/release/libmvt.so. Its own stamp, so that an existing venv gets it without reinstalling the pins.
$(VENV)/.mvt-editable: $(VENV)/.installed python/pyproject.toml python/setup.py Cargo.toml
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e $(ROOT)/python
	touch $@

$(ROOT)/.venv-ort-oldest/.installed: requirements-ort-oldest.txt
	python3 -m venv $(ROOT)/.venv-ort-oldest
	$(ROOT)/.venv-ort-oldest/bin/pip install -q --no-deps -r requirements-ort-oldest.txt
	touch $@

build: setup
	cargo build --release --workspace --locked

# Shared fixtures for the Python and C++ tests (the Rust tests make their own): the `tiny` benchmark, a model
# trained on it (conf/tiny.txt) and its exported model file, in FP32 and in INT8.
fixtures: build
	rm -rf $(BUILD)/tiny $(BUILD)/tiny-train $(BUILD)/tiny.onnx $(BUILD)/tiny-int8.onnx
	$(BIN)/mvt-train synth --preset tiny --seed 7 --out $(BUILD)/tiny
	$(BIN)/mvt-train train --config conf/tiny.txt --data $(BUILD)/tiny --out $(BUILD)/tiny-train --epochs 8 --seed 1 --device cpu
	$(BIN)/mvt-train export --checkpoint $(BUILD)/tiny-train/best --out $(BUILD)/tiny.onnx
	$(BIN)/mvt-train export --checkpoint $(BUILD)/tiny-train/best --out $(BUILD)/tiny-int8.onnx --precision int8

# Style and layout: rustfmt, clippy with every warning an error, the layout rules (no import circles, no
# hand-written Rust file over 700 lines: scripts/check_layout.py) and a benchmark generator without libtorch.
lint: setup
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets --locked -- -D warnings
	$(PY) scripts/check_layout.py
	@deps=$$(cargo tree --locked -p mvt-synth -e normal) && ! grep -qE '(^|[ ─])(tch|torch-sys) v' <<< "$$deps" \
		|| { echo "mvt-synth must not depend on libtorch (tch / torch-sys)"; exit 1; }

test-rust: build
	cargo test --release --workspace --locked

test-python: fixtures test-cpp
	$(PY) -m pytest -q tests/python

test-cpp: fixtures
	cmake -S cpp_demo -B $(BUILD)/cpp_demo
	cmake --build $(BUILD)/cpp_demo -j 2
	ctest --test-dir $(BUILD)/cpp_demo --output-on-failure

# libmvt as a C library (scripts/install.sh; packaging/README.md): headers, libmvt.so with its SONAME links, the
# pinned ONNX Runtime next to it, pkg-config and CMake packages, the CLI. DESTDIR is honoured; uninstall removes
# exactly what install put there. `make dist` packs the same tree, relocatable, into dist/.
PREFIX ?= /usr/local
DESTDIR ?=
install: build
	scripts/install.sh install "$(PREFIX)" "$(DESTDIR)"

uninstall:
	scripts/install.sh uninstall "$(PREFIX)" "$(DESTDIR)"

dist: build
	scripts/install.sh dist $(ROOT)/dist

# The Python package as a wheel: dist/mvt-<version>-py3-none-linux_x86_64.whl with libmvt.so inside (python/setup.py
# copies it into the build folder, never into python/), requiring numpy and onnxruntime==1.31.1, whose
# libonnxruntime.so the package hands to libmvt. `pip install dist/mvt-*.whl`, then `python -m mvt infer ...`.
wheel: build
	rm -rf python/build python/mvt.egg-info $(ROOT)/dist/mvt-*.whl
	mkdir -p $(ROOT)/dist
	MVT_WHEEL_LIBRARY=$(BIN)/libmvt.so $(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(ROOT)/dist $(ROOT)/python
	rm -rf python/build python/mvt.egg-info
	@ls $(ROOT)/dist/mvt-*.whl

# test-cpp first: the Python parity test runs the C++ demo binary it builds.
test: lint test-rust test-cpp test-python

# The main job end to end on the `small` benchmark: data -> train -> evaluate -> export -> CLI, C++ and Python
# inference. conf/small_cpu.txt sizes the original recipe for a 2-core CPU (a few minutes of training).
demo: build
	rm -rf $(OUT) && mkdir -p $(OUT)
	$(BIN)/mvt-train synth --preset small --seed 1 --out $(OUT)/small
	$(BIN)/mvt dataset --data $(OUT)/small --config conf/small_cpu.txt
	$(BIN)/mvt-train train --config conf/small_cpu.txt --data $(OUT)/small --out $(OUT)/train --seed 1
	$(BIN)/mvt-train eval --checkpoint $(OUT)/train/best --data $(OUT)/small --split val
	$(BIN)/mvt-train export --checkpoint $(OUT)/train/best --out $(OUT)/model.onnx
	$(BIN)/mvt info $(OUT)/model.onnx
	$(BIN)/mvt-train export --checkpoint $(OUT)/train/best --out $(OUT)/model-int8.onnx --precision int8
	$(BIN)/mvt-train eval --checkpoint $(OUT)/model-int8.onnx --data $(OUT)/small --split val
	$(BIN)/mvt infer --model $(OUT)/model.onnx --data $(OUT)/small --list val.txt --out $(OUT)/output.json
	cmake -S cpp_demo -B $(BUILD)/cpp_demo && cmake --build $(BUILD)/cpp_demo -j 2
	$(BUILD)/cpp_demo/mvt_demo --model $(OUT)/model.onnx --data $(OUT)/small --list val.txt --out $(OUT)/cpp_output.json
	$(PY) python_demo/demo.py --model $(OUT)/model.onnx --data $(OUT)/small --list val.txt --out $(OUT)/python_output.json
	@echo "demo done: $(OUT)/output.json (CLI), $(OUT)/cpp_output.json (C++), $(OUT)/python_output.json (Python), training curves $(OUT)/train/curves.png, INT8 model $(OUT)/model-int8.onnx"

# Speed at the original's sizes, FP32 and INT8 against every baseline, side by side (scripts/bench.py): writes
# out/bench/README.md (tables and goals), results.json and chart.png. Not part of `make test` (a few minutes).
bench: build
	$(PY) scripts/bench.py --out $(OUT)/bench

clean:
	cargo clean
	rm -rf $(BUILD) $(OUT)
