"""The model registry: one entry per model, everything else is looked up from here.

Adding a model = a params block under `train:` in params.yaml, one `ModelSpec` below,
and its code in the task module of its dataset (`pipeline/tasks/<dataset>.py`, see
`pipeline.tasks` for what a task provides). Kept torch-free:
params validation imports this module.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import ParamsError
from ..schema import Float, Int, List, Section, Spec, Str


@dataclass(frozen=True)
class ModelSpec:
    name: str  # key under `train:` in params.yaml and the DVC foreach key
    registered_name: str  # name in the MLflow Model Registry
    dataset: str  # data/processed/<dataset>/, task module pipeline/tasks/<dataset>.py
    model_class: str  # nn.Module class in the task module, built by `from_params(block, meta)`
    loss: str  # a key of pipeline.training.LOSSES
    description: str
    params: dict[str, Spec]  # model-specific params; training params are added

    def schema(self) -> Section:
        return Section({"dataset": Str((self.dataset,)), **self.params, **TRAINING_PARAMS}, check=_check_split)

    def task(self):
        return importlib.import_module(f"pipeline.tasks.{self.dataset}")


# Keys every model block has; consumed by the generic training loop.
TRAINING_PARAMS: dict[str, Spec] = {
    "split": Section({"train": Float(0, 1, min_exclusive=True), "val": Float(0, 1, min_exclusive=True)}),
    "epochs": Int(1, 100_000),
    "batch_size": Int(1, 1_000_000),
    "lr": Float(0, 10, min_exclusive=True),
    "patience": Int(0, 100_000),  # epochs without val improvement before stopping; 0 = never stop early
}


def _check_split(block: dict, key: str) -> None:
    split = block["split"]
    if split["train"] + split["val"] >= 1:
        raise ParamsError(
            f"{key}.split",
            f"train + val = {split['train'] + split['val']:g} leaves no test data; it must be < 1",
        )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="stock_rnn",
            registered_name="stock-rnn",
            dataset="stock",
            model_class="StockRNN",
            loss="mse",
            description="Next-day NFLX close from 30 days of Open/High/Low with an Elman RNN.",
            params={
                "window": Int(2, 1000),
                "features": List(Str(("Open", "High", "Low", "Close")), unique=True),
                "target": Str(("Close",)),
                "scaling": Str(("window_relative", "train_max")),
                "hidden_size": Int(1, 4096),
                "num_layers": Int(1, 64),
                "head_hidden": Int(1, 65536),
            },
        ),
    ]
}


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
