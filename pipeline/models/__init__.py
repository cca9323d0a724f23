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
from ..schema import Bool, Float, Int, List, Section, Spec, Str


@dataclass(frozen=True)
class ModelSpec:
    name: str  # key under `train:` in params.yaml and the DVC foreach key
    registered_name: str  # name in the MLflow Model Registry
    dataset: str  # data/processed/<dataset>/, task module pipeline/tasks/<dataset>.py
    model_class: str  # nn.Module class in the task module, built by `from_params(block, meta)`
    loss: str  # a key of pipeline.training.LOSSES
    description: str
    params: dict[str, Spec]  # model-specific params; training params are added
    separate_test_set: bool = False  # the data ships its own test set: train + val may use all the rest
    refine_loss: str | None = None  # a key of its task's REFINE_LOSSES for the last `refine_epochs` (REFINE_PARAMS)

    def schema(self) -> Section:
        refine = REFINE_PARAMS if self.refine_loss else {}
        return Section({"dataset": Str((self.dataset,)), **self.params, **TRAINING_PARAMS, **refine},
                       check=self._check)

    def _check(self, block: dict, key: str) -> None:
        total = block["split"]["train"] + block["split"]["val"]
        if total > 1 or (total == 1 and not self.separate_test_set):
            limit = "<= 1" if self.separate_test_set else "< 1 (the rest is the test set)"
            raise ParamsError(f"{key}.split", f"train + val = {total:g}; it must be {limit}")
        if block.get("refine_epochs", 0) >= block["epochs"]:
            raise ParamsError(f"{key}.refine_epochs", f"{block['refine_epochs']} must be below epochs "
                                                      f"({block['epochs']}): they are the last of them")

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

# Keys of a model with a `refine_loss`: its last refine_epochs of `epochs` train on that loss.
REFINE_PARAMS: dict[str, Spec] = {
    "refine_epochs": Int(0, 100_000),
    "refine_lr": Float(0, 10, min_exclusive=True),
}


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
        ModelSpec(
            name="lotto_rnn",
            registered_name="lotto-rnn",
            dataset="lotto",
            model_class="LottoRNN",
            loss="mse",
            description="Lotto 6/45: the next draw from the last 10 with an Elman RNN (draws are random; "
                        "scored against chance).",
            params={
                "window": Int(1, 1000),
                "hidden_size": Int(1, 4096),
                "num_layers": Int(1, 64),
                "dropout": Float(0, 0.9),
                "head_sizes": List(Int(1, 65536), min_len=0),  # hidden Linear+ReLU+Dropout layers
            },
        ),
        ModelSpec(
            name="signal_denoiser_seed",
            registered_name="signal-denoiser-seed",
            dataset="signals",
            separate_test_set=True,
            model_class="SeedDenoiser",
            loss="bce",
            description="The notebook's Conv1D denoising autoencoder (28,737 parameters), 150-point signals.",
            params={
                "targets": Str(("scaled",)),
                "max_norm": Float(0, min_exclusive=True),
            },
        ),
        ModelSpec(
            name="signal_denoiser",
            registered_name="signal-denoiser",
            dataset="signals",
            separate_test_set=True,
            model_class="SignalDenoiser",
            loss="mse",
            refine_loss="noise_relative_mse",
            description="Residual 1-D U-Net denoiser with a least-squares-trend expert and a learned switch; "
                        "any length >= 16, raw units in and out.",
            params={
                "targets": Str(("raw",)),  # the refine loss needs targets in the inputs' units
                "channels": Int(1, 1024),
                "levels": Int(1, 4),
                "kernel_size": Int(1, 31),
                "trend_degree": Int(-1, 8),  # the trend expert's polynomial degree; -1: none
                "sign_symmetric": Bool(),  # trained on both signs, answers odd: -x gets -(the answer to x)
            },
        ),
        ModelSpec(
            name="mnist_dense_ae",
            registered_name="mnist-dense-ae",
            dataset="mnist",
            separate_test_set=True,
            model_class="DenseAE",
            loss="mse",
            description="MNIST dense autoencoder 784-256-k-256-784; reconstruction, latent code and anomaly score.",
            params={"hidden": Int(1, 65536), "latent": Int(1, 784)},
        ),
        ModelSpec(
            name="mnist_conv_ae",
            registered_name="mnist-conv-ae",
            dataset="mnist",
            separate_test_set=True,
            model_class="ConvAE",
            loss="mse",
            description="MNIST convolutional autoencoder (Conv2D + max-pool, dense latent k, transposed conv).",
            params={"filters": Int(1, 1024), "kernel": Int(1, 27), "latent": Int(1, 1_000_000)},
        ),
        ModelSpec(
            name="mnist_denoising_ae",
            registered_name="mnist-denoising-ae",
            dataset="mnist",
            separate_test_set=True,
            model_class="DenoisingConvAE",
            loss="bce",
            description="MNIST denoising convolutional autoencoder: Gaussian-noised images in, clean images out.",
            params={"noise_sigma": Float(0, 10, min_exclusive=True), "channels": Int(1, 1024)},
        ),
        ModelSpec(
            name="mnist_lstm_ae",
            registered_name="mnist-lstm-ae",
            dataset="mnist",
            separate_test_set=True,
            model_class="LSTMAE",
            loss="mse",
            description="MNIST LSTM autoencoder: 28 rows as time steps, repeated latent, LSTM decoder.",
            params={"hidden": Int(1, 4096), "latent": Int(1, 4096), "bidirectional": Bool()},
        ),
    ]
}


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
