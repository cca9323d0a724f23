"""What each model's task module provides, and the checkpoint format they share.

A task module, `pipeline/tasks/<dataset>.py`, defines:

- ``prepare(data_dir, block, key, seed) -> Prepared``: datasets in model units + JSON-able meta
  (scalers, shapes) that inference needs.
- the model class named by ``ModelSpec.model_class``, with a classmethod
  ``from_params(block, meta) -> nn.Module``.
- ``evaluate(model, prepared, block) -> Evaluation``: test metrics next to the baseline.
- ``gate(metrics) -> Verdict``: does the model beat its baseline.
- ``serve(model, meta, request)``: a raw-units request -> answer in user units; raises
  PayloadError on a malformed request (served through `pipeline.serving.PipelineModel`).
- ``input_example(prepared)``: a raw-units request for the model signature.

Optional: ``epoch_metrics(model, prepared) -> dict[str, float]``, validation figures logged each
epoch beside the losses (e.g. the denoisers' MSE in the signal's units, which their losses are not);
``training_plan(spec, model, block, config, loss) -> pipeline.training.Plan``, the phases a model
trains in and its task's callbacks, where that is more than one phase on its loss (`loss`) over
`epochs` at `lr` (the signal denoisers: a weight constraint, a refine phase on another loss);
``SERVE_PARAMS``, {name: (MLflow type, default)}: request params (`{"inputs": ..., "params": {...}}`)
declared in the registered signature and handed to ``serve(model, meta, request, params=...)``;
``SUMMARY_TABLES``, {table: columns}: tables of ``Evaluation.tables`` that reports/summary.md shows
(those columns) below the headline table.

Every task's evaluation has a ``headline`` table (headline_table): the figures a person compares, the
model's beside its baselines'. The metrics stay few (a DVC metrics file holds at most
MAX_METRICS values, so that `dvc metrics show` fits a terminal): headline figures, what the gate
reads and counts; anything per group (per family, noise level, digit, day) goes to a table.

The train stage depends on the task module alone (dvc.yaml), evaluate on every module here: what
only evaluate and serve run may live in modules of its own beside the task's (the signal task's
scoring, guard and classical filters in signal_*.py), so that changing it re-scores the models
without retraining them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from ..errors import ParamsError
from ..io import atomic_path


@dataclass
class Prepared:
    train: TensorDataset  # (inputs, targets) in model units
    val: TensorDataset
    test: TensorDataset
    meta: dict  # JSON-able; saved in the checkpoint and used at inference time
    raw: Any = None  # task-specific raw-unit arrays for evaluation


MAX_METRICS = 40  # values in one DVC metrics file (and at most this many eval metrics in an MLflow run)


@dataclass
class Evaluation:
    metrics: dict[str, float]  # flat, numeric, at most MAX_METRICS: DVC metrics file and MLflow metrics
    # name -> rows: plots/<model>/<name>.csv (DVC plots) and MLflow artifacts; "headline" always
    tables: dict[str, list[dict]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> matplotlib Figure, MLflow artifacts
    notes: dict[str, str] = field(default_factory=dict)  # short human verdicts, MLflow tags


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float  # lower is better; used to compare with the current champion
    score_name: str
    reason: str


def headline_table(metrics: dict[str, float], figures: dict[str, dict[str, str]]) -> list[dict]:
    """One row per headline figure: {"figure": name, column: value, ...} from `figures`, name ->
    {column ("model", a baseline's or a variant's name): the metric key holding its value}; a key not in
    `metrics` leaves its cell out, and a figure without the model's value its row. The summary stage reads
    this table, not the metric names."""
    return [{"figure": figure, **{column: metrics[key] for column, key in columns.items() if key in metrics}}
            for figure, columns in figures.items() if columns["model"] in metrics]


def chronological_split(n: int, train: float, val: float, key: str = "split") -> tuple[slice, slice, slice]:
    """Three consecutive, non-overlapping ranges: oldest for training, newest for testing."""
    n_train, n_val = int(n * train), int(n * val)
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise ParamsError(key, f"train={train:g}, val={val:g} of {n} window{'s' * (n != 1)} leaves an empty part")
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def build_model(spec, block: dict, meta: dict) -> torch.nn.Module:
    """An untrained model of `spec`'s class, sized from its params block and the data's meta."""
    return getattr(spec.task(), spec.model_class).from_params(block, meta)


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | Path) -> dict:
    # weights_only: a checkpoint is data, never code to execute
    return torch.load(path, map_location="cpu", weights_only=True)
