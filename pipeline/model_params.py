"""Each dataset's and each model's params class: what `pipeline.config` validates params.yaml's
`datasets:` sections and `train:` blocks against.

Torch-free (params validation imports it, and validating must not load torch). MODEL_PARAMS below
is the list of models: `pipeline.registry` loads each one's module, pipeline/models/<name>.py, and
checks that its spec and its params class fit together.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from .params import Choice, Float, Int, Items, Section, problem


class Split(Section):
    train: Float(le=1, gt=0)
    val: Float(le=1, gt=0)


class DatasetParams(Section):
    """What every model of one dataset shares (`datasets.<dataset>` in params.yaml): how its data is
    cut into inputs and split, so that sibling models train, validate and are tested on the same
    examples. A dataset's class adds its own keys and says whether the data ships its own test set."""

    separate_test_set: ClassVar[bool] = False  # True: train + val may use all the rest

    split: Split

    @model_validator(mode="after")
    def _split_leaves_a_test_set(self):
        total = self.split.train + self.split.val
        if total > 1 or (total == 1 and not self.separate_test_set):
            limit = "<= 1" if self.separate_test_set else "< 1 (the rest is the test set)"
            raise problem(f"train + val = {total:g}; it must be {limit}", at="split")
        return self


class StockData(DatasetParams):
    window: Int(2, 1000)  # days in a model's input
    features: Items(Choice("Open", "High", "Low", "Close"), unique=str)
    target: Choice("Close")
    scaling: Choice("window_relative", "train_max")


class LottoData(DatasetParams):
    window: Int(1, 1000)  # past draws in a model's input


class SignalsData(DatasetParams):
    separate_test_set: ClassVar[bool] = True  # the held-out test file (signals.n_test_per_family)


class MnistData(DatasetParams):
    separate_test_set: ClassVar[bool] = True  # the 10k test images; train + val may use all 60k


# dataset name -> its params class (the section `datasets.<dataset>`)
DATASET_PARAMS: dict[str, type[DatasetParams]] = {
    "stock": StockData, "lotto": LottoData, "signals": SignalsData, "mnist": MnistData,
}


class TrainingParams(Section):
    """Keys every model block has; consumed by the generic training loop. A model's params class
    adds its own keys (its `dataset` first); its dataset's keys are in `datasets.<dataset>`."""

    epochs: Int(1, 100_000)
    batch_size: Int(1, 1_000_000)
    lr: Float(le=10, gt=0)
    patience: Int(0, 100_000)  # epochs without val improvement before stopping; 0 = never stop early


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


# --- each model's params (the training keys come from TrainingParams) ---------------------------

class StockRNNParams(TrainingParams):
    dataset: Choice("stock")
    hidden_size: Int(1, 4096)
    num_layers: Int(1, 64)
    head_hidden: Int(1, 65536)


class LottoRNNParams(TrainingParams):
    dataset: Choice("lotto")
    hidden_size: Int(1, 4096)
    num_layers: Int(1, 64)
    dropout: Float(0, 0.9)
    head_sizes: Items(Int(1, 65536), min_len=0)  # hidden Linear+ReLU+Dropout layers


class SeedDenoiserParams(TrainingParams):
    dataset: Choice("signals")
    # its sigmoid answers on [0, 1]; what that scale is (pipeline/tasks/signals, SCALED_TARGETS): the
    # pure signal on its noisy input's range (what serving reads back), or on its own (the notebook's)
    targets: Choice("noisy_range", "pure_own_range")
    max_norm: Float(gt=0)


class SignalDenoiserParams(RefineParams):
    dataset: Choice("signals")
    targets: Choice("raw")  # the refine loss needs targets in the inputs' units
    channels: Int(1, 1024)
    levels: Int(1, 4)
    kernel_size: Int(1, 31)
    trend_degree: Int(-1, 8)  # the trend expert's polynomial degree; -1: none
    sign_symmetric: bool  # trained on both signs, answers odd: -x gets -(the answer to x)


class DenseAEParams(TrainingParams):
    dataset: Choice("mnist")
    hidden: Int(1, 65536)
    latent: Int(1, 784)


class ConvAEParams(TrainingParams):
    dataset: Choice("mnist")
    filters: Int(1, 1024)
    kernel: Int(1, 27)
    latent: Int(1, 1_000_000)


class DenoisingAEParams(TrainingParams):
    dataset: Choice("mnist")
    noise_sigma: Float(le=10, gt=0)
    channels: Int(1, 1024)


class LSTMAEParams(TrainingParams):
    dataset: Choice("mnist")
    hidden: Int(1, 4096)
    latent: Int(1, 4096)
    bidirectional: bool


# The notebook-faithful ("seed") MNIST autoencoders: their architecture is the notebook's, fixed.
# inputs: standardised (each image on its own) or unit (pixels / 255); train_images: N > 0 trains
# on the training part's first N images in file order, 0 on all of it.
TRAIN_IMAGES = Int(0, 60_000)


class DenseAESeedParams(TrainingParams):
    dataset: Choice("mnist")
    inputs: Choice("standardised", "unit")
    train_images: TRAIN_IMAGES
    latent: Int(1, 784)


class ConvAESeedParams(TrainingParams):
    dataset: Choice("mnist")
    inputs: Choice("standardised", "unit")
    train_images: TRAIN_IMAGES


class DenoisingAESeedParams(TrainingParams):
    dataset: Choice("mnist")
    inputs: Choice("unit")  # sigmoid output and binary cross-entropy: targets in [0, 1]
    train_images: TRAIN_IMAGES
    noise_sigma: Float(le=10, gt=0)


class LSTMAESeedParams(TrainingParams):
    dataset: Choice("mnist")
    inputs: Choice("standardised", "unit")
    train_images: TRAIN_IMAGES
    hidden: Int(1, 4096)


# model name (its key under `train:` in params.yaml) -> its params class
MODEL_PARAMS: dict[str, type[TrainingParams]] = {
    "stock_rnn": StockRNNParams,
    "lotto_rnn": LottoRNNParams,
    "signal_denoiser_seed": SeedDenoiserParams,
    "signal_denoiser": SignalDenoiserParams,
    "mnist_dense_ae": DenseAEParams,
    "mnist_conv_ae": ConvAEParams,
    "mnist_denoising_ae": DenoisingAEParams,
    "mnist_lstm_ae": LSTMAEParams,
    "mnist_dense_ae_seed": DenseAESeedParams,
    "mnist_conv_ae_seed": ConvAESeedParams,
    "mnist_denoising_ae_seed": DenoisingAESeedParams,
    "mnist_lstm_ae_seed": LSTMAESeedParams,
}
