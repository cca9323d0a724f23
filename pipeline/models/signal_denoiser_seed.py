"""signal_denoiser_seed: the notebook's Keras Conv1D denoising autoencoder, in PyTorch."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.signals import SCALED_TARGETS, MinMaxDenoiser
from ..tasks.signals.task import SignalsTask


class SeedDenoiser(MinMaxDenoiser):
    """The notebook's Keras autoencoder: valid convs down, transposed convs back, sigmoid out.

    Conv1D(128,k3,relu) -> Conv1D(32,k3,relu) -> ConvTranspose1D(32,k3,relu) ->
    ConvTranspose1D(128,k3,relu) -> Conv1D(1,k3,same,sigmoid); 28,737 parameters. He-uniform
    kernels, zero biases, and Keras' max_norm(2.0) (default axis 0 = the kernel-width axis:
    every (in, out) kernel vector is rescaled to norm <= 2) after each optimizer step.
    Its input shape is fixed, (150, 1) in the notebook: it serves the training length only.
    """

    fixed_length = True

    def __init__(self, max_norm: float = 2.0, targets: str = "noisy_range"):
        if targets not in SCALED_TARGETS:  # a sigmoid answers on [0, 1]
            raise ValueError(f"targets {targets!r}: the seed denoiser trains on one of {', '.join(SCALED_TARGETS)}")
        super().__init__(targets)
        self.max_norm = max_norm
        self.net = nn.Sequential(
            nn.Conv1d(1, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 1, 3, padding=1), nn.Sigmoid(),
        )
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # Keras he_uniform
                nn.init.zeros_(layer.bias)
        self.constrain_()

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SeedDenoiser:
        return cls(block["max_norm"], block["targets"])

    def core(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Keras max_norm: applied after every optimizer step (MaxNorm, in its training plan)."""
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                norm = layer.weight.norm(dim=-1, keepdim=True)
                layer.weight.mul_(norm.clamp(max=self.max_norm) / norm.clamp_min(1e-7))


SPEC = ModelSpec("signal_denoiser_seed", "signal-denoiser-seed", SignalsTask, SeedDenoiser, loss="bce",
                 description="The notebook's Conv1D denoising autoencoder (28,737 parameters), 150-point signals.")
