"""The model registry: one entry per model, everything else is looked up from here.

Adding a model = a params block under `train:` in params.yaml, one `ModelSpec` below,
and its code in the task module of its dataset (`pipeline/tasks/<dataset>.py`, see
`pipeline.tasks` for what a task provides). Kept torch-free:
params validation imports this module.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar, get_args

from pydantic import model_validator

from ..errors import ParamsError
from ..params import Choice, Float, Int, Items, Section, problem


class Split(Section):
    train: Float(le=1, gt=0)
    val: Float(le=1, gt=0)


class TrainingParams(Section):
    """Keys every model block has; consumed by the generic training loop. A model's params class
    adds its own keys (its `dataset` first) and says whether its data ships its own test set."""

    separate_test_set: ClassVar[bool] = False  # True: train + val may use all the rest

    split: Split
    epochs: Int(1, 100_000)
    batch_size: Int(1, 1_000_000)
    lr: Float(le=10, gt=0)
    patience: Int(0, 100_000)  # epochs without val improvement before stopping; 0 = never stop early

    @model_validator(mode="after")
    def _split_leaves_a_test_set(self):
        total = self.split.train + self.split.val
        if total > 1 or (total == 1 and not self.separate_test_set):
            limit = "<= 1" if self.separate_test_set else "< 1 (the rest is the test set)"
            raise problem(f"train + val = {total:g}; it must be {limit}", at="split")
        return self


class RefineParams(TrainingParams):
    """Keys of a model with a `refine_loss`: its last refine_epochs of `epochs` train on that loss."""

    refine_epochs: Int(0, 100_000)
    refine_lr: Float(le=10, gt=0)

    @model_validator(mode="after")
    def _refine_is_the_last_epochs(self):
        if self.refine_epochs >= self.epochs:
            raise problem(f"{self.refine_epochs} must be below epochs ({self.epochs}): they are the last of them",
                          at="refine_epochs")
        return self


@dataclass(frozen=True)
class ModelSpec:
    name: str  # key under `train:` in params.yaml and the DVC foreach key
    registered_name: str  # name in the MLflow Model Registry
    dataset: str  # data/processed/<dataset>/, task module pipeline/tasks/<dataset>.py
    model_class: str  # nn.Module class in the task module, built by `from_params(block, meta)`
    loss: str  # a key of pipeline.training.LOSSES
    description: str
    params: type[TrainingParams]  # its params.yaml block under train.<name>
    refine_loss: str | None = None  # a key of its task's REFINE_LOSSES for the last `refine_epochs` (RefineParams)

    def __post_init__(self) -> None:
        # the params class repeats two facts of the spec; a mismatch is a bug in this file
        if get_args(self.params.model_fields["dataset"].annotation) != (self.dataset,):
            raise TypeError(f"{self.name}: {self.params.__name__}.dataset must be Literal[{self.dataset!r}]")
        if (self.refine_loss is not None) != issubclass(self.params, RefineParams):
            raise TypeError(f"{self.name}: a refine_loss needs RefineParams, and RefineParams a refine_loss")

    @property
    def separate_test_set(self) -> bool:
        """The data ships its own test set: train + val may use all the rest."""
        return self.params.separate_test_set

    def task(self):
        return importlib.import_module(f"pipeline.tasks.{self.dataset}")


# --- each model's params (the training keys come from TrainingParams) ----------------

class StockRNNParams(TrainingParams):
    dataset: Choice("stock")
    window: Int(2, 1000)
    features: Items(Choice("Open", "High", "Low", "Close"), unique=str)
    target: Choice("Close")
    scaling: Choice("window_relative", "train_max")
    hidden_size: Int(1, 4096)
    num_layers: Int(1, 64)
    head_hidden: Int(1, 65536)


class LottoRNNParams(TrainingParams):
    dataset: Choice("lotto")
    window: Int(1, 1000)
    hidden_size: Int(1, 4096)
    num_layers: Int(1, 64)
    dropout: Float(0, 0.9)
    head_sizes: Items(Int(1, 65536), min_len=0)  # hidden Linear+ReLU+Dropout layers


class SeedDenoiserParams(TrainingParams):
    separate_test_set: ClassVar[bool] = True
    dataset: Choice("signals")
    targets: Choice("scaled")
    max_norm: Float(gt=0)


class SignalDenoiserParams(RefineParams):
    separate_test_set: ClassVar[bool] = True
    dataset: Choice("signals")
    targets: Choice("raw")  # the refine loss needs targets in the inputs' units
    channels: Int(1, 1024)
    levels: Int(1, 4)
    kernel_size: Int(1, 31)
    trend_degree: Int(-1, 8)  # the trend expert's polynomial degree; -1: none
    sign_symmetric: bool  # trained on both signs, answers odd: -x gets -(the answer to x)


class DenseAEParams(TrainingParams):
    separate_test_set: ClassVar[bool] = True  # the 10k test images; train + val may use all 60k
    dataset: Choice("mnist")
    hidden: Int(1, 65536)
    latent: Int(1, 784)


class ConvAEParams(TrainingParams):
    separate_test_set: ClassVar[bool] = True  # the 10k test images; train + val may use all 60k
    dataset: Choice("mnist")
    filters: Int(1, 1024)
    kernel: Int(1, 27)
    latent: Int(1, 1_000_000)


class DenoisingAEParams(TrainingParams):
    separate_test_set: ClassVar[bool] = True  # the 10k test images; train + val may use all 60k
    dataset: Choice("mnist")
    noise_sigma: Float(le=10, gt=0)
    channels: Int(1, 1024)


class LSTMAEParams(TrainingParams):
    separate_test_set: ClassVar[bool] = True  # the 10k test images; train + val may use all 60k
    dataset: Choice("mnist")
    hidden: Int(1, 4096)
    latent: Int(1, 4096)
    bidirectional: bool


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
            params=StockRNNParams,
        ),
        ModelSpec(
            name="lotto_rnn",
            registered_name="lotto-rnn",
            dataset="lotto",
            model_class="LottoRNN",
            loss="mse",
            description="Lotto 6/45: the next draw from the last 10 with an Elman RNN (draws are random; "
                        "scored against chance).",
            params=LottoRNNParams,
        ),
        ModelSpec(
            name="signal_denoiser_seed",
            registered_name="signal-denoiser-seed",
            dataset="signals",
            model_class="SeedDenoiser",
            loss="bce",
            description="The notebook's Conv1D denoising autoencoder (28,737 parameters), 150-point signals.",
            params=SeedDenoiserParams,
        ),
        ModelSpec(
            name="signal_denoiser",
            registered_name="signal-denoiser",
            dataset="signals",
            model_class="SignalDenoiser",
            loss="mse",
            refine_loss="noise_relative_mse",
            description="Residual 1-D U-Net denoiser with a least-squares-trend expert and a learned switch; "
                        "any length >= 16, raw units in and out.",
            params=SignalDenoiserParams,
        ),
        ModelSpec(
            name="mnist_dense_ae",
            registered_name="mnist-dense-ae",
            dataset="mnist",
            model_class="DenseAE",
            loss="mse",
            description="MNIST dense autoencoder 784-256-k-256-784; reconstruction, latent code and anomaly score.",
            params=DenseAEParams,
        ),
        ModelSpec(
            name="mnist_conv_ae",
            registered_name="mnist-conv-ae",
            dataset="mnist",
            model_class="ConvAE",
            loss="mse",
            description="MNIST convolutional autoencoder (Conv2D + max-pool, dense latent k, transposed conv).",
            params=ConvAEParams,
        ),
        ModelSpec(
            name="mnist_denoising_ae",
            registered_name="mnist-denoising-ae",
            dataset="mnist",
            model_class="DenoisingConvAE",
            loss="bce",
            description="MNIST denoising convolutional autoencoder: Gaussian-noised images in, clean images out.",
            params=DenoisingAEParams,
        ),
        ModelSpec(
            name="mnist_lstm_ae",
            registered_name="mnist-lstm-ae",
            dataset="mnist",
            model_class="LSTMAE",
            loss="mse",
            description="MNIST LSTM autoencoder: 28 rows as time steps, repeated latent, LSTM decoder.",
            params=LSTMAEParams,
        ),
    ]
}


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
