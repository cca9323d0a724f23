"""The model registry: one entry per model, everything else is looked up from here.

Adding a model = a params block under `train:` in params.yaml, its params class in
`pipeline/model_params.py` (a `TrainingParams` subclass, entered in MODEL_PARAMS under the model's
name), one `ModelSpec` below, and its code in the task module of its dataset
(`pipeline/tasks/<dataset>.py`: its network class and its `Task` subclass; see `pipeline.tasks`
for what a task provides). This module imports every task module, hence torch; params validation
reads the torch-free MODEL_PARAMS instead.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import get_args

import torch

from ..errors import ParamsError
from ..model_params import (MODEL_PARAMS, ConvAEParams, DenoisingAEParams, DenseAEParams, LottoRNNParams,
                            LSTMAEParams, RefineParams, SeedDenoiserParams, SignalDenoiserParams, StockRNNParams,
                            TrainingParams)
from ..tasks import Network, Task
from ..tasks.lotto import LottoRNN, LottoTask
from ..tasks.mnist import LSTMAE, ConvAE, DenoisingConvAE, DenseAE, MnistTask
from ..tasks.signals import SeedDenoiser, SignalDenoiser, SignalsTask
from ..tasks.stock import StockRNN, StockTask


@dataclass(frozen=True)
class ModelSpec:
    name: str  # key under `train:` in params.yaml and the DVC foreach key
    registered_name: str  # name in the MLflow Model Registry
    task: type[Task]  # its dataset's task: prepare, evaluate, gate, serve and the optional hooks
    network: type[Network]  # nn.Module class, built by `from_params(block, meta)`
    loss: str  # a key of pipeline.training.LOSSES
    description: str
    params: type[TrainingParams]  # its params.yaml block under train.<name>; MODEL_PARAMS[name] too
    refine_loss: str | None = None  # a key of its task's REFINE_LOSSES for the last `refine_epochs` (RefineParams)

    def __post_init__(self) -> None:
        # the task class, the network class and the params class must fit together; a mismatch is a
        # bug in this file or in the task module
        if inspect.isabstract(self.task):
            lacks = ", ".join(sorted(self.task.__abstractmethods__))
            raise TypeError(f"{self.name}: {self.task.__name__} lacks {lacks}")
        if get_args(self.params.model_fields["dataset"].annotation) != (self.task.dataset,):
            raise TypeError(f"{self.name}: {self.params.__name__}.dataset must be Literal[{self.task.dataset!r}]")
        if (self.refine_loss is not None) != issubclass(self.params, RefineParams):
            raise TypeError(f"{self.name}: a refine_loss needs RefineParams, and RefineParams a refine_loss")

    @property
    def dataset(self) -> str:
        """data/processed/<dataset>/ and the task module pipeline/tasks/<dataset>.py."""
        return self.task.dataset

    @property
    def separate_test_set(self) -> bool:
        """The data ships its own test set: train + val may use all the rest."""
        return self.params.separate_test_set

    def build(self, block: dict, meta: dict) -> torch.nn.Module:
        """An untrained network, sized from its params block and the prepared data's meta."""
        return self.network.from_params(block, meta)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="stock_rnn",
            registered_name="stock-rnn",
            task=StockTask,
            network=StockRNN,
            loss="mse",
            description="Next-day NFLX close from 30 days of Open/High/Low with an Elman RNN.",
            params=StockRNNParams,
        ),
        ModelSpec(
            name="lotto_rnn",
            registered_name="lotto-rnn",
            task=LottoTask,
            network=LottoRNN,
            loss="mse",
            description="Lotto 6/45: the next draw from the last 10 with an Elman RNN (draws are random; "
                        "scored against chance).",
            params=LottoRNNParams,
        ),
        ModelSpec(
            name="signal_denoiser_seed",
            registered_name="signal-denoiser-seed",
            task=SignalsTask,
            network=SeedDenoiser,
            loss="bce",
            description="The notebook's Conv1D denoising autoencoder (28,737 parameters), 150-point signals.",
            params=SeedDenoiserParams,
        ),
        ModelSpec(
            name="signal_denoiser",
            registered_name="signal-denoiser",
            task=SignalsTask,
            network=SignalDenoiser,
            loss="mse",
            refine_loss="noise_relative_mse",
            description="Residual 1-D U-Net denoiser with a least-squares-trend expert and a learned switch; "
                        "any length >= 16, raw units in and out.",
            params=SignalDenoiserParams,
        ),
        ModelSpec(
            name="mnist_dense_ae",
            registered_name="mnist-dense-ae",
            task=MnistTask,
            network=DenseAE,
            loss="mse",
            description="MNIST dense autoencoder 784-256-k-256-784; reconstruction, latent code and anomaly score.",
            params=DenseAEParams,
        ),
        ModelSpec(
            name="mnist_conv_ae",
            registered_name="mnist-conv-ae",
            task=MnistTask,
            network=ConvAE,
            loss="mse",
            description="MNIST convolutional autoencoder (Conv2D + max-pool, dense latent k, transposed conv).",
            params=ConvAEParams,
        ),
        ModelSpec(
            name="mnist_denoising_ae",
            registered_name="mnist-denoising-ae",
            task=MnistTask,
            network=DenoisingConvAE,
            loss="bce",
            description="MNIST denoising convolutional autoencoder: Gaussian-noised images in, clean images out.",
            params=DenoisingAEParams,
        ),
        ModelSpec(
            name="mnist_lstm_ae",
            registered_name="mnist-lstm-ae",
            task=MnistTask,
            network=LSTMAE,
            loss="mse",
            description="MNIST LSTM autoencoder: 28 rows as time steps, repeated latent, LSTM decoder.",
            params=LSTMAEParams,
        ),
    ]
}


if {name: spec.params for name, spec in MODELS.items()} != MODEL_PARAMS:  # a bug in one of the two tables
    raise TypeError("pipeline.models.MODELS and pipeline.model_params.MODEL_PARAMS name different models")


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
