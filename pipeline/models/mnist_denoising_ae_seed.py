"""mnist_denoising_ae_seed: the notebook's denoising convolutional autoencoder (no downsampling)."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder, channels_last, conv_out, same_pad, transpose_pad


class DenoisingAESeed(EncoderDecoder):
    """The notebook's Keras model: Conv2D(10, 3×3, same, relu) → MaxPool(2×2, stride 1, same) →
    Conv2DTranspose(10, 3×3, stride 1, same, relu) → Conv2D(1, 3×3, same, sigmoid); every map stays
    28×28. Keras' "same" pooling pads the even 2×2 window after (bottom, right) only, with values the
    max never picks (-inf). The code is the pooled 10×28×28 maps. Keras' initialisers: Glorot-uniform
    weights, zero biases."""

    FILTERS, KERNEL, POOL = 10, 3, 2

    def __init__(self):
        super().__init__()
        pad = same_pad(self.KERNEL)
        assert conv_out(SIDE + self.POOL - 1, self.POOL) == SIDE
        self.latent_size = self.FILTERS * SIDE * SIDE
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, SIDE)), nn.Conv2d(1, self.FILTERS, self.KERNEL, padding=pad), nn.ReLU(),
            nn.ConstantPad2d((0, self.POOL - 1, 0, self.POOL - 1), float("-inf")), nn.MaxPool2d(self.POOL, stride=1),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(self.FILTERS, self.FILTERS, self.KERNEL, 1,
                               padding=transpose_pad(SIDE, SIDE, self.KERNEL, 1)), nn.ReLU(),
            nn.Conv2d(self.FILTERS, 1, self.KERNEL, padding=pad), nn.Sigmoid(), nn.Flatten(1, 2),
        )
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(layer.weight)  # Keras glorot_uniform
                nn.init.zeros_(layer.bias)
        channels_last(self)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> DenoisingAESeed:
        return cls()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)


SPEC = ModelSpec("mnist_denoising_ae_seed", "mnist-denoising-ae-seed", MnistTask, DenoisingAESeed, loss="bce",
                 description="The notebook's MNIST denoising convolutional autoencoder: noisy images in, clean out.")
