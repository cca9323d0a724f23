"""The CAE notebook's conv arithmetic against the shapes real torch layers produce, and the
channels-last conv models against the same parameters in torch's default layout."""
import itertools

import pytest
import torch
from torch import nn

from pipeline.models.layers import conv_out, conv_transpose_out, same_pad, transpose_pad
from pipeline.models.mnist_conv_ae import ConvAE
from pipeline.models.mnist_denoising_ae import DenoisingConvAE

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


@pytest.mark.parametrize("model_class, args", [(ConvAE, (10, 5, 32)), (DenoisingConvAE, (8,))])
def test_channels_last_layout_gives_the_same_reconstructions(model_class, args):
    torch.manual_seed(0)
    model = model_class(*args)
    # channels-last strides: the channel axis is the innermost (stride 1), even where it has size 1
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.weight.stride(1) == 1 for m in convs)
    # the same parameters in torch's default layout
    plain = model_class(*args).to(memory_format=torch.contiguous_format)
    plain.load_state_dict(model.state_dict())
    assert all(m.weight.stride(1) > 1 for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    images = torch.rand(4, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(images), plain(images), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.encode(images), plain.encode(images), atol=1e-5, rtol=1e-5)
