"""mnist_conv_ae: MNIST convolutional autoencoder (Conv2D + max-pool, dense latent k, transposed conv)."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder, channels_last, conv_out, same_pad, transpose_pad


class ConvAE(EncoderDecoder):
    """The CAE notebook's model: Conv2D(filters, kernel, same) + ReLU + 2×2 max-pool → dense
    latent → dense back to the pooled maps → 4×4 stride-2 transposed conv to 28×28, sigmoid."""

    UP_KERNEL, UP_STRIDE = 4, 2

    def __init__(self, filters: int, kernel: int, latent: int):
        super().__init__()
        self.latent_size = latent
        pad = same_pad(kernel)
        pooled = conv_out(conv_out(SIDE, kernel, 1, pad), 2, 2)
        up_pad = transpose_pad(pooled, SIDE, self.UP_KERNEL, self.UP_STRIDE)
        maps = filters * pooled * pooled
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, SIDE)), nn.Conv2d(1, filters, kernel, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(maps, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, maps), nn.ReLU(), nn.Unflatten(1, (filters, pooled, pooled)),
            nn.ConvTranspose2d(filters, 1, self.UP_KERNEL, self.UP_STRIDE, padding=up_pad), nn.Sigmoid(),
            nn.Flatten(1, 2),
        )
        channels_last(self)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> ConvAE:
        return cls(block["filters"], block["kernel"], block["latent"])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


SPEC = ModelSpec("mnist_conv_ae", "mnist-conv-ae", MnistTask, ConvAE, loss="mse",
                 description="MNIST convolutional autoencoder (Conv2D + max-pool, dense latent k, transposed conv).")
