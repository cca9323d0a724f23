"""Where each stage reads and writes, relative to the repository root (DVC's working dir).

dvc.yaml names the same paths; tests/test_dvc_yaml.py keeps the two in step.
"""
from __future__ import annotations

from pathlib import Path

PROCESSED = Path("data/processed")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
REPORTS = Path("reports")


def dataset_dir(dataset: str) -> Path:
    return PROCESSED / dataset


def checkpoint(model: str) -> Path:
    return MODELS / model / "model.pt"


def run_record(model: str) -> Path:
    """The MLflow run a model was trained in; evaluate and register add to that run."""
    return MODELS / model / "mlflow_run.json"


def train_metrics(model: str) -> Path:
    return METRICS / "train" / f"{model}.json"


def eval_metrics(model: str) -> Path:
    return METRICS / "eval" / f"{model}.json"


def loss_table(model: str) -> Path:
    """Per-epoch losses; one folder for all models so one DVC plot shows every curve."""
    return PLOTS / "loss" / f"{model}.csv"


def eval_plots_dir(model: str) -> Path:
    """A model's evaluation tables (CSV): headline, per-group figures."""
    return PLOTS / model


def eval_figures_dir(model: str) -> Path:
    """A model's evaluation figures (PNG): every model's show in `dvc plots show` by this one pattern."""
    return PLOTS / "figures" / model


def stage_figures_dir(stage: str) -> Path:
    """A data stage's figures (PNG; ingest_stock, generate_signals): its DVC plots, as a model's
    evaluation figures are its evaluate stage's."""
    return PLOTS / "figures" / stage


def headline_metrics() -> Path:
    """Every model's first headline figure and gate verdict in one small file: the metrics
    `dvc exp show` and `dvc metrics show` open on."""
    return METRICS / "headline.json"


def registry_report() -> Path:
    return REPORTS / "registry.json"
