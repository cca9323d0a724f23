"""signal_denoiser: a residual 1-D U-Net with a least-squares trend expert and a learned switch."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..tasks import ModelSpec
from ..tasks.signals import MinMaxDenoiser
from ..tasks.signals.task import SignalsTask


class _Stage(nn.Module):
    """Two 'same' convolutions with a residual connection, at one resolution."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding="same")
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding="same")

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.gelu(self.conv1(F.gelu(h))))


def polynomial_trend(z: torch.Tensor, degree: int) -> torch.Tensor:
    """Least-squares fit of a polynomial of `degree` along the last axis, for any length."""
    t = torch.linspace(-1, 1, z.shape[-1], dtype=torch.float64, device=z.device)
    q, _ = torch.linalg.qr(torch.stack([t**k for k in range(degree + 1)], 1))
    q = q.to(z.dtype)
    return (z @ q) @ q.T


def trend_fit_statistics(z: torch.Tensor, trend: torch.Tensor) -> torch.Tensor:
    """(N, 1, L) -> (N, 2), both about 0 when the signal is the trend plus white Gaussian noise:

    - misfit: log of the trend's residual power over the noise power seen by second
      differences (which cancel lines and nearly cancel smooth curves); large when the
      trend misses structure;
    - glitchiness: log of the second differences' power over its robust estimate from their
      median absolute value; large when a few points (spikes, dropouts, jumps) carry it.
    """
    second = z[..., 2:] - 2 * z[..., 1:-1] + z[..., :-2]
    power = second.square().mean(-1)
    misfit = torch.log(((z - trend).square().mean(-1) + 1e-12) / (power / 6 + 1e-12))
    robust = (second.abs().median(-1).values / 0.6745).square()
    return torch.cat([misfit, torch.log((power + 1e-12) / (robust + 1e-12))], 1)


class SignalDenoiser(MinMaxDenoiser):
    """Residual 1-D U-Net with global context; fully convolutional, any length >= 16.

    The scaled signal (and, with trend_degree >= 0, its least-squares polynomial trend) is
    padded (edge values repeated) to a multiple of 2**levels, encoded by residual stages and
    stride-2 convolutions, mixed at the coarsest level with its mean over time (global
    context: which family, how much noise), decoded by transposed convolutions with skip
    connections, and cropped back. The network predicts a correction added to its input, so
    the identity is its easy starting point.

    With a trend, a switch blends the two experts: out = g * trend + (1 - g) * (input +
    correction). Low-order polynomials are a linear space where the least-squares fit is the
    best estimator under white noise; the switch lets the network use it exactly instead of
    approximating it with convolutions. g is computed from the global context and two fit
    statistics, initialised as a goodness-of-fit test (trend where the residual looks like
    white Gaussian noise) that training refines; a switch that had to discover this from
    scratch did so for some random initialisations and not others.
    """

    def __init__(self, channels: int, levels: int, kernel_size: int, trend_degree: int, targets: str,
                 sign_symmetric: bool = False):
        super().__init__(targets)
        self.levels, self.trend_degree, self.sign_symmetric = levels, trend_degree, sign_symmetric
        self.inp = nn.Conv1d(1 if trend_degree < 0 else 2, channels, kernel_size, padding="same")
        self.enc = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.down = nn.ModuleList(nn.Conv1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.mid = _Stage(channels, 3)
        self.context = nn.Linear(channels, channels)
        self.switch = nn.Linear(channels + 2, 1) if trend_degree >= 0 else None
        if self.switch is not None:  # start as a goodness-of-fit test: the trend where it fits
            nn.init.zeros_(self.switch.weight)
            nn.init.constant_(self.switch.weight[:, -2:], -4.0)  # g = sigmoid(4 - 4 (misfit + glitchiness))
            nn.init.constant_(self.switch.bias, 4.0)
        self.up = nn.ModuleList(nn.ConvTranspose1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.merge = nn.ModuleList(nn.Conv1d(2 * channels, channels, 1) for _ in range(levels))
        self.dec = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.out = nn.Conv1d(channels, 1, 1)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SignalDenoiser:
        return cls(block["channels"], block["levels"], block["kernel_size"], block["trend_degree"], block["targets"],
                   block["sign_symmetric"])

    def denoise(self, noisy: torch.Tensor) -> torch.Tensor:
        """With sign_symmetric (trained on both signs, see prepare), the odd part of the answer,
        (f(x) - f(-x)) / 2, in one forward pass: -x gets exactly -(the answer to x)."""
        if not self.sign_symmetric:
            return super().denoise(noisy)
        both = super().denoise(torch.cat([noisy, -noisy]))
        return (both[: len(noisy)] - both[len(noisy) :]) / 2

    def core(self, z: torch.Tensor) -> torch.Tensor:
        length = z.shape[-1]
        pad = -length % 2**self.levels
        trend = None if self.switch is None else polynomial_trend(z, self.trend_degree)
        x = z if trend is None else torch.cat([z, trend], 1)
        h = self.inp(F.pad(x, (pad // 2, pad - pad // 2), mode="replicate"))
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        context = h.mean(-1)
        h = h + self.context(context).unsqueeze(-1)
        for i in reversed(range(self.levels)):
            h = self.up[i](h)
            h = self.dec[i](self.merge[i](torch.cat([h, skips[i]], 1)))
        denoised = z + self.out(h)[..., pad // 2 : pad // 2 + length]
        if trend is None:
            return denoised
        g = torch.sigmoid(self.switch(torch.cat([context, trend_fit_statistics(z, trend)], 1))).unsqueeze(-1)
        return g * trend + (1 - g) * denoised


SPEC = ModelSpec("signal_denoiser", "signal-denoiser", SignalsTask, SignalDenoiser, loss="mse",
                 refine_loss="noise_relative_mse",
                 description="Residual 1-D U-Net denoiser with a least-squares-trend expert and a learned switch; "
                 "any length >= 16, raw units in and out.")
