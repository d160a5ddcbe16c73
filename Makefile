# The two commands of the README: `make run` (the main job) and `make test` (the test suite).
# Both set everything up on a fresh machine first: a virtual environment in .venv with the pinned stack.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MUJOCO_GL ?= egl

.PHONY: setup run test test-slow lint bench baselines clean

setup: $(STAMP)

# torch and mujoco are installed first and pinned: an unpinned torch pulls a multi-GB CUDA build, and
# mujoco 4.x installed first then downgraded to MetaWorld's 3.3.0 leaves `import mujoco` broken (PLATFORM.md).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 mujoco==3.3.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/vla-bench quickstart

# --durations: each run's log names its slowest tests, so a CI run that takes longer can be explained
test: setup
	$(BIN)/python -m pytest -m "not slow" --durations=25

test-slow: setup
	$(BIN)/python -m pytest -m slow --durations=25

# `make lint` also type-checks the tests (pyproject's [tool.mypy] files: vla_bench and tests, ~30 s here);
# `make test`, which CI runs, leaves mypy out to keep within CI's time budget
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/harness_overhead.py

# rebuilds results/agents and the baseline bundles from scratch (hours on 2 cores; resumable)
baselines: setup
	$(BIN)/python scripts/make_baselines.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
