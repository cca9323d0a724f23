"""The CAE notebook's conv arithmetic against the shapes real torch layers produce."""
import itertools

import pytest
import torch
from torch import nn

from pipeline.tasks.mnist import conv_out, conv_transpose_out, same_pad, transpose_pad

GRID = list(itertools.product([5, 13, 14, 28], [1, 2, 3, 4, 5], [1, 2, 3], [0, 1, 2]))  # size, kernel, stride, pad


def test_conv_and_pool_output_sizes_match_torch():
    for size, kernel, stride, pad in GRID:
        if size + 2 * pad < kernel:
            with pytest.raises(ValueError, match="does not fit"):
                conv_out(size, kernel, stride, pad)
            continue
        x = torch.zeros(1, 1, size, size)
        expected = conv_out(size, kernel, stride, pad)
        assert nn.Conv2d(1, 1, kernel, stride, pad)(x).shape[-1] == expected, (size, kernel, stride, pad)
        if pad <= kernel // 2:  # torch's pooling limit on padding
            assert nn.MaxPool2d(kernel, stride, pad)(x).shape[-1] == expected, (size, kernel, stride, pad)


def test_transposed_conv_output_size_matches_torch():
    for size, kernel, stride, pad in GRID:
        expected = conv_transpose_out(size, kernel, stride, pad)
        if expected < 1:
            continue  # torch refuses a non-positive output size
        x = torch.zeros(1, 1, size, size)
        assert nn.ConvTranspose2d(1, 1, kernel, stride, pad)(x).shape[-1] == expected, (size, kernel, stride, pad)


def test_notebook_sizes():
    assert conv_out(28, 5, 1, same_pad(5)) == 28  # 'same' 5x5 conv keeps 28
    assert conv_out(28, 5) == 24  # 'valid' 5x5 conv: (28 - 5)/1 + 1
    assert conv_out(28, 2, 2) == 14  # 2x2 max-pool: the 14x14 maps
    assert conv_transpose_out(14, 4, 2, 1) == 28  # (14 - 1)·2 − 2 + 4
    assert conv_out(28, 3, 2, 1) == 14 and conv_out(14, 3, 2, 1) == 7  # floor((in + 2 − 3)/2) + 1


@pytest.mark.parametrize("size, target, kernel, stride", [(14, 28, 4, 2), (7, 14, 4, 2), (14, 28, 2, 2), (7, 28, 4, 4)])
def test_transpose_pad_hits_the_target_in_torch(size, target, kernel, stride):
    pad = transpose_pad(size, target, kernel, stride)
    layer = nn.ConvTranspose2d(1, 1, kernel, stride, pad)
    assert layer(torch.zeros(1, 1, size, size)).shape[-1] == target


def test_impossible_paddings_are_refused():
    with pytest.raises(ValueError, match="even"):
        same_pad(4)
    with pytest.raises(ValueError, match="no padding"):
        transpose_pad(14, 28, 3, 2)  # (14 - 1)·2 + 3 − 28 = 1 is odd
    with pytest.raises(ValueError, match="no padding"):
        transpose_pad(14, 40, 4, 2)  # would need negative padding
