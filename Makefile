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

.PHONY: setup build test test-rust test-python test-cpp demo fixtures header clean

setup: $(VENV)/.installed
	@command -v cmake >/dev/null || { apt-get update -q && apt-get install -y -q cmake; }

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --no-deps -r requirements.txt
	touch $@

build: setup
	cargo build --release --workspace --locked

# Shared fixtures for the Python and C++ tests (the Rust tests make their own).
fixtures: build
	rm -rf $(BUILD)/tiny && $(BIN)/mvt-train synth --preset tiny --seed 7 --out $(BUILD)/tiny

test-rust: build
	cargo test --release --workspace --locked

test-python: fixtures
	$(PY) -m pytest -q tests/python

test-cpp: fixtures

test: test-rust test-python test-cpp

demo: build
	rm -rf $(OUT)/small
	$(BIN)/mvt-train synth --preset small --seed 1 --out $(OUT)/small
	$(BIN)/mvt dataset --data $(OUT)/small --config conf/conf.txt

clean:
	cargo clean
	rm -rf $(BUILD) $(OUT)
