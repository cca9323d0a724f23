"""The task contract (`Task`, `Network`), what it passes around, and the checkpoint format.

A task package, `pipeline/tasks/<dataset>/`, holds its dataset's code as module-level functions and
one `Task` subclass that names them, made by ``task_class(name, dataset, __name__, prepare=prepare,
...)``. A model module, `pipeline/models/<model>.py`, holds its network class and its `ModelSpec`
(below), which holds the task class and the network class themselves (`pipeline.registry` pairs it
with its params class).
Every task provides:

- ``prepare(data_dir, block, key, seed) -> Prepared[Raw]``: datasets in model units + JSON-able meta
  (scalers, shapes) that inference needs, and in ``raw`` its own raw-unit arrays (a TypedDict per task).
- ``evaluate(model, prepared, block) -> Evaluation``: test metrics next to the baseline.
- ``gate(metrics) -> Verdict``: does the model beat its baseline.
- ``serve(model, meta, request)``: a raw-units request -> answer in user units; raises
  PayloadError on a malformed request (served through `pipeline.serving.PipelineModel`).
- ``input_example(prepared)``: a raw-units request for the model signature.

Optional, declared on `Task` with a default that does nothing beyond the shared loop:
``epoch_metrics(model, prepared) -> dict[str, float]``, validation figures logged each epoch beside
the losses (e.g. the denoisers' MSE in the signal's units, which their losses are not; default none);
``training_plan(spec, model, block, config, loss) -> pipeline.training.Plan``, the phases a model
trains in and its task's callbacks (default: one phase on its loss over `epochs` at `lr`; the signal
denoisers: a weight constraint, a refine phase on another loss);
``serve_params``, {name: (MLflow type, default)}: request params (`{"inputs": ..., "params": {...}}`)
declared in the registered signature and handed to ``serve(model, meta, request, params=...)``
(default none); ``summary_tables``, {table: columns}: tables of ``Evaluation.tables`` that
reports/summary.md shows (those columns) below the headline table (default none).

The network (an nn.Module class, `ModelSpec.network`) is built by its classmethod
``from_params(block, meta)``: sized from its params block and the prepared data's meta.

Every task's evaluation has a ``headline`` table (headline_table): the figures a person compares, the
model's beside its baselines'. The metrics stay few (a DVC metrics file holds at most
MAX_METRICS values, so that `dvc metrics show` fits a terminal): headline figures, what the gate
reads and counts; anything per group (per family, noise level, digit, day) goes to a table.

A model's train stage depends on its own module, its task package's `__init__.py` and the shared
code (dvc.yaml), not on its siblings: adding a model retrains no other. What only evaluate and
serve run may live in modules of its own inside the task package (the signal task's scoring, guard
and classical filters), so that changing it re-scores the models without retraining them.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import torch
from torch.utils.data import TensorDataset

from ..errors import ParamsError
from ..io import atomic_path
from ..training import LossFn, Plan, TrainConfig, single_phase

Raw = TypeVar("Raw")


@dataclass
class Prepared(Generic[Raw]):
    train: TensorDataset  # (inputs, targets) in model units
    val: TensorDataset
    test: TensorDataset
    meta: dict  # JSON-able; saved in the checkpoint and used at inference time
    raw: Raw  # the task's raw-unit arrays for evaluation and serving examples (its own TypedDict)


MAX_METRICS = 40  # values in one DVC metrics file (and at most this many eval metrics in an MLflow run)


def metrics_file_values(tree) -> int:
    """The values `dvc metrics show` makes a column of: every leaf of a (nested) metrics file."""
    if isinstance(tree, dict):
        return sum(map(metrics_file_values, tree.values()))
    return sum(map(metrics_file_values, tree)) if isinstance(tree, list) else 1


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


class Network(Protocol):
    """A model's nn.Module class (`ModelSpec.network`)."""

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> torch.nn.Module:
        """An untrained network sized from its params block and the prepared data's meta."""


class Task(ABC):
    """What every task provides (see the module docstring); a subclass per task package names its
    functions. Never instantiated: the pipeline calls these on the class."""

    dataset: ClassVar[str]  # data/processed/<dataset>/ and its task package pipeline/tasks/<dataset>/
    serve_params: ClassVar[dict[str, tuple[str, Any]]] = {}  # request params: name -> (MLflow type, default)
    summary_tables: ClassVar[dict[str, tuple[str, ...]]] = {}  # Evaluation.tables shown in reports/summary.md

    @staticmethod
    @abstractmethod
    def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared:
        """Datasets in model units, meta for inference, the task's raw arrays; `key` names the block in errors."""

    @staticmethod
    @abstractmethod
    def evaluate(model: torch.nn.Module, prepared: Prepared, block: dict) -> Evaluation:
        """Test metrics (at most MAX_METRICS) beside the baselines', a headline table."""

    @staticmethod
    @abstractmethod
    def gate(metrics: dict) -> Verdict:
        """Does the model beat its baseline, from its evaluation's metrics alone."""

    @staticmethod
    @abstractmethod
    def input_example(prepared: Prepared) -> Any:
        """A raw-units request for the registered signature."""

    @staticmethod
    @abstractmethod
    def serve(model: torch.nn.Module, meta: dict, request: Any, params: dict | None = None) -> Any:
        """A raw-units request -> the answer in user units; PayloadError on a malformed request.
        `params` is passed only by a task that declares serve_params, and only those."""

    @staticmethod
    def epoch_metrics(model: torch.nn.Module, prepared: Prepared) -> dict[str, float]:
        """Validation figures for each epoch's row, beside the losses: none unless a task has its own."""
        return {}

    @staticmethod
    def training_plan(spec: ModelSpec, model: torch.nn.Module, block: dict, config: TrainConfig,
                      loss: LossFn) -> Plan:
        """The phases the model trains in and the task's callbacks: one phase on its loss unless a task
        needs more."""
        return single_phase(loss, config)


# what a task may name: its contract's functions and declared values
TASK_PARTS = ("prepare", "evaluate", "gate", "input_example", "serve", "epoch_metrics", "training_plan",
              "serve_params", "summary_tables")


def task_class(name: str, dataset: str, module: str, **parts: Any) -> type[Task]:
    """A `Task` subclass named `name` for `dataset`, defined in `module`: each function in `parts`
    becomes its static method, each other value (serve_params, summary_tables) its class attribute.
    A part the contract does not declare is refused; one it requires and `parts` lacks leaves the
    class abstract, which ModelSpec refuses."""
    unknown = sorted(set(parts) - set(TASK_PARTS))
    if unknown:
        raise TypeError(f"{name}: {', '.join(unknown)} not in the task contract ({', '.join(TASK_PARTS)})")
    body = {key: staticmethod(value) if callable(value) else value for key, value in parts.items()}
    return type(name, (Task,), {"__module__": module, "__doc__": f"The {dataset} task's contract.",
                                "dataset": dataset, **body})


@dataclass(frozen=True)
class ModelSpec:
    name: str  # key under `train:` in params.yaml and the DVC foreach key
    registered_name: str  # name in the MLflow Model Registry
    task: type[Task]  # its dataset's task: prepare, evaluate, gate, serve and the optional hooks
    network: type[Network]  # nn.Module class, built by `from_params(block, meta)`
    loss: str  # a key of pipeline.training.LOSSES
    description: str
    refine_loss: str | None = None  # a key of its task's REFINE_LOSSES for the last `refine_epochs` (RefineParams)

    def __post_init__(self) -> None:
        # a task that lacks part of the contract is a bug in its package (its params class is paired
        # with the spec, and checked, in pipeline.registry)
        if inspect.isabstract(self.task):
            lacks = ", ".join(sorted(self.task.__abstractmethods__))
            raise TypeError(f"{self.name}: {self.task.__name__} lacks {lacks}")

    @property
    def dataset(self) -> str:
        """data/processed/<dataset>/ and the task package pipeline/tasks/<dataset>/."""
        return self.task.dataset

    def build(self, block: dict, meta: dict) -> torch.nn.Module:
        """An untrained network, sized from its params block and the prepared data's meta."""
        return self.network.from_params(block, meta)


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | Path) -> dict:
    # weights_only: a checkpoint is data, never code to execute
    return torch.load(path, map_location="cpu", weights_only=True)
