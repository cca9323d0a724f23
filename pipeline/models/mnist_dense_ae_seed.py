"""mnist_dense_ae_seed: the notebook's dense autoencoder 784-256-k-256-784 (ReLU code, linear output)."""
from __future__ import annotations

from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import PIXELS, SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder


class DenseAESeed(EncoderDecoder):
    """The notebook's Keras model: Dense(256, relu) → Dense(k, relu) (the code, the notebook's encoder
    on its own) → Dense(256, relu) → Dense(784, linear), on standardised images. Keras' initialisers:
    Glorot-uniform weights, zero biases."""

    HIDDEN = 256

    def __init__(self, latent: int):
        super().__init__()
        self.latent_size = latent
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(PIXELS, self.HIDDEN), nn.ReLU(), nn.Linear(self.HIDDEN, latent), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, self.HIDDEN), nn.ReLU(), nn.Linear(self.HIDDEN, PIXELS), nn.Unflatten(1, (SIDE, SIDE)),
        )
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)  # Keras glorot_uniform
                nn.init.zeros_(layer.bias)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> DenseAESeed:
        return cls(block["latent"])


SPEC = ModelSpec("mnist_dense_ae_seed", "mnist-dense-ae-seed", MnistTask, DenseAESeed, loss="mse",
                 description="The notebook's MNIST dense autoencoder 784-256-k-256-784, standardised images.")
