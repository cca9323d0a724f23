"""mnist_dense_ae: MNIST dense autoencoder 784-256-k-256-784; reconstruction, latent code and anomaly score."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import PIXELS, SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder


class DenseAE(EncoderDecoder):
    """784 → hidden → latent → hidden → 784; ReLU hidden layers, linear code, sigmoid output."""

    def __init__(self, hidden: int, latent: int):
        super().__init__()
        self.latent_size = latent
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS), nn.Sigmoid(), nn.Unflatten(1, (SIDE, SIDE))
        )

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> DenseAE:
        return cls(block["hidden"], block["latent"])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


SPEC = ModelSpec("mnist_dense_ae", "mnist-dense-ae", MnistTask, DenseAE, loss="mse",
                 description="MNIST dense autoencoder 784-256-k-256-784; reconstruction, latent code and anomaly score.")
