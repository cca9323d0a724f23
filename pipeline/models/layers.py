"""What several networks share: layer arithmetic, the channels-last layout, the encoder-decoder shape."""
from __future__ import annotations

import torch
from torch import nn


# The CAE notebook's formulas: they size the convolutional autoencoders' layers.


def conv_out(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution or pooling: floor((in + 2·pad − kernel) / stride) + 1."""
    out = (size + 2 * pad - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"kernel {kernel} with padding {pad} does not fit an input of {size}")
    return out


def conv_transpose_out(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a transposed convolution: (in − 1)·stride − 2·pad + kernel."""
    return (size - 1) * stride - 2 * pad + kernel


def same_pad(kernel: int) -> int:
    """Padding that keeps the length at stride 1; only odd kernels have one."""
    if kernel % 2 == 0:
        raise ValueError(f"kernel {kernel} is even; a stride-1 convolution keeps the size only for odd kernels")
    return (kernel - 1) // 2


def transpose_pad(size: int, target: int, kernel: int, stride: int) -> int:
    """The padding that makes a transposed convolution grow `size` to exactly `target`."""
    twice = (size - 1) * stride + kernel - target
    if twice < 0 or twice % 2:
        raise ValueError(f"no padding takes {size} to {target} with kernel {kernel}, stride {stride}")
    return twice // 2


def channels_last(model: nn.Module) -> nn.Module:
    """`model` with its conv weights (4-D parameters) laid out channels-last, in place: the CPU
    convolutions then take oneDNN's faster path. The same operations: the same model up to float
    rounding. (One-channel input maps are channels-last already.)"""
    return model.to(memory_format=torch.channels_last)


class EncoderDecoder(nn.Module):
    """An autoencoder built as `self.encoder` then `self.decoder`: encode(x) is its code, forward(x) its
    reconstruction."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
