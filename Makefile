# Two commands do all set-up on a fresh machine: `make repro` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
# the default store; an MLFLOW_TRACKING_URI from your environment wins
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

MODEL ?= stock-rnn
PORT ?= 5001
# make predict: the input file (or folder), or DECODE=latent.csv for an MNIST autoencoder; OUTPUT a folder
INPUT ?=
DECODE ?=
OUTPUT ?=
UI_PORT ?= 5000

.PHONY: help env repro quality test mutate bench soak serve predict ui plots plots-template clean

help:
	@echo "make repro              build .venv if missing, then run the whole pipeline (dvc repro, stages side by side)"
	@echo "make quality            the denoiser's quality profile as a DVC experiment (3x the data and epochs)"
	@echo "make test               build .venv if missing, then run every test, in a random order (its seed is printed);"
	@echo "                        PYTEST_ARGS='--randomly-seed=N' repeats an order, '-p no:randomly' keeps the file order"
	@echo "make mutate [GROUP=a,b]  mutation testing of the gates, parsers, guard, serving -> benchmarks/results/mutation.md"
	@echo "make serve MODEL=name   serve a registered model on 127.0.0.1:\$$PORT ($(PORT))"
	@echo "make predict MODEL=name INPUT=file [OUTPUT=dir]   the model's answers for a file -> predictions/<model>/"
	@echo "make ui                 MLflow UI on 127.0.0.1:\$$UI_PORT ($(UI_PORT))"
	@echo "make bench              speed/memory benchmarks -> benchmarks/results/"
	@echo "make soak MODEL=name    10,000 valid+invalid requests to a served model -> benchmarks/results/"
	@echo "make plots              dvc plots show -> dvc_plots/index.html (works offline)"
	@echo "make screenshots        MLflow UI + dvc plots in headless Chromium -> reports/screenshots/"

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

env: $(VENV)/.installed

# `dvc repro` with independent stages side by side (pipeline/repro.py): the same models and metrics
# as a plain `dvc repro` (every stage pins params.yaml's cpu_threads)
repro: env
	python -m pipeline.repro

# The signal denoiser's quality profile (docs/denoiser.md, "The quality profile"): 3x the data, a
# 32-channel network, 60 epochs, the last 12 on the refine loss (a fifth, as in the default's 4 of 20);
# a GPU is picked when present.
# A `dvc exp run --temp` (in a temp copy: the workspace and params.yaml keep the defaults) named
# with the time (a name is taken once); `dvc exp show` compares. tests/unit/test_config.py checks
# the overrides. It runs alone, so on two threads (cpu_threads=2, the thread count it was measured with).
QUALITY_PARAMS := cpu_threads=2 signals.n_per_family=600 train.signal_denoiser.channels=32 train.signal_denoiser.epochs=60 train.signal_denoiser.refine_epochs=12

quality: env
	dvc exp run --temp -n denoiser-quality-$$(date +%Y%m%d-%H%M) $(addprefix -S ,$(QUALITY_PARAMS))

# pytest-randomly shuffles the order (a new seed each run, printed in the header); .ci/run fixes one
PYTEST_ARGS ?=
test: env
	python -m pytest $(PYTEST_ARGS)

# mutmut over the functions where a wrong answer reaches users, each group against its own tests
# (benchmarks/mutation.py, GROUPS); fails on a surviving mutant that has no reason in
# benchmarks/mutation_equivalent.toml. GROUP=name[,name] runs only those groups.
GROUP ?=
mutate: env
	python benchmarks/mutation.py $(if $(GROUP),--group $(GROUP))

bench: env
	python benchmarks/run.py

soak: env
	python benchmarks/soak.py --model $(MODEL)

serve: env
	python -m pipeline.serve $(MODEL) --port $(PORT)

# the registered model's answers for the inputs in a file (README.md, "Predict from files")
predict: env
	python -m pipeline.predict $(MODEL) $(if $(DECODE),--decode "$(DECODE)",$(if $(INPUT),"$(INPUT)")) $(if $(OUTPUT),-o "$(OUTPUT)")

ui: env
	mlflow ui --backend-store-uri "$(MLFLOW_TRACKING_URI)" --host 127.0.0.1 --port $(UI_PORT) --workers 1

plots: env
	dvc plots show

# the MLflow UI (experiments, runs, compare) and the dvc plots page, as a browser shows them
screenshots: env
	python benchmarks/screenshots.py

# rebuild .dvc/plots/offline.html from the npm packages (needs npm and the registry)
plots-template: env
	rm -rf .plots-build && mkdir .plots-build
	cd .plots-build && npm pack --silent vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 && \
		for f in *.tgz; do mkdir "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	python -m pipeline.plots .plots-build && rm -rf .plots-build

clean:
	rm -rf data/processed models metrics plots reports mlflow.db mlartifacts
