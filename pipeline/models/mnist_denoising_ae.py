"""mnist_denoising_ae: MNIST denoising convolutional autoencoder: Gaussian-noised images in, clean images out."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder, channels_last, conv_out, same_pad, transpose_pad


class DenoisingConvAE(EncoderDecoder):
    """Fully convolutional: two 3×3 stride-2 convs (28 → 14 → 7) and two 4×4 stride-2
    transposed convs back (7 → 14 → 28), ReLU between, sigmoid output. The code is the
    channels × 7 × 7 feature map."""

    KERNEL, UP_KERNEL, STRIDE = 3, 4, 2

    def __init__(self, channels: int):
        super().__init__()
        pad = same_pad(self.KERNEL)
        half = conv_out(SIDE, self.KERNEL, self.STRIDE, pad)
        quarter = conv_out(half, self.KERNEL, self.STRIDE, pad)
        self.latent_size = channels * quarter * quarter
        self.code_shape = (channels, quarter, quarter)
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, SIDE)),
            nn.Conv2d(1, channels, self.KERNEL, self.STRIDE, pad), nn.ReLU(),
            nn.Conv2d(channels, channels, self.KERNEL, self.STRIDE, pad), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, self.UP_KERNEL, self.STRIDE,
                               transpose_pad(quarter, half, self.UP_KERNEL, self.STRIDE)), nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, self.UP_KERNEL, self.STRIDE,
                               transpose_pad(half, SIDE, self.UP_KERNEL, self.STRIDE)), nn.Sigmoid(),
            nn.Flatten(1, 2),
        )
        channels_last(self)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> DenoisingConvAE:
        return cls(block["channels"])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.unflatten(1, self.code_shape))


SPEC = ModelSpec("mnist_denoising_ae", "mnist-denoising-ae", MnistTask, DenoisingConvAE, loss="bce",
                 description="MNIST denoising convolutional autoencoder: Gaussian-noised images in, clean images out.")
