"""mnist_conv_ae_seed: the CAE notebook's convolutional autoencoder with its 14×14 dense latent."""
from __future__ import annotations

from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask
from .layers import EncoderDecoder, channels_last, conv_out, same_pad, transpose_pad


def keras_same(kernel: int) -> tuple[int, int]:
    """Keras' "same" padding at stride 1, (before, after): an even kernel pads one more after."""
    return (kernel - 1) // 2, kernel // 2


class ConvAESeed(EncoderDecoder):
    """The notebook's Keras model, on standardised images: Conv2D(10, 5×5, same, relu) → MaxPool(5×5,
    stride 1, valid) (24×24×10) → Flatten → Dense(196, linear), the code, seen as 14×14×1 →
    Conv2DTranspose(10, 4×4, stride 2, same, relu) (28×28×10) → Conv2D(1, 4×4, same, linear).
    Keras' "same" pads the even 4×4 kernel 1 before and 2 after at stride 1, and 1 on each side at
    stride 2 (the stride-2 convolution it reverses, 28 → 14, needs 2 in all). Keras' initialisers:
    Glorot-uniform weights, zero biases. Flatten reads channels first here, not last as in Keras: the
    dense weights' rows in another order, the same model."""

    FILTERS, KERNEL, POOL = 10, 5, 5
    CODE_SIDE, UP_KERNEL, UP_STRIDE, OUT_KERNEL = 14, 4, 2, 4

    def __init__(self):
        super().__init__()
        self.latent_size = self.CODE_SIDE**2
        pooled = conv_out(conv_out(SIDE, self.KERNEL, 1, same_pad(self.KERNEL)), self.POOL)  # 28 → 28 → 24
        maps = self.FILTERS * pooled * pooled
        up_pad = transpose_pad(self.CODE_SIDE, SIDE, self.UP_KERNEL, self.UP_STRIDE)  # 14 → 28
        before, after = keras_same(self.OUT_KERNEL)
        assert conv_out(SIDE + before + after, self.OUT_KERNEL) == SIDE
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, SIDE)), nn.Conv2d(1, self.FILTERS, self.KERNEL, padding=same_pad(self.KERNEL)),
            nn.ReLU(), nn.MaxPool2d(self.POOL, stride=1), nn.Flatten(), nn.Linear(maps, self.latent_size),
        )
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (1, self.CODE_SIDE, self.CODE_SIDE)),
            nn.ConvTranspose2d(1, self.FILTERS, self.UP_KERNEL, self.UP_STRIDE, padding=up_pad), nn.ReLU(),
            nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(self.FILTERS, 1, self.OUT_KERNEL),
            nn.Flatten(1, 2),
        )
        for layer in self.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(layer.weight)  # Keras glorot_uniform (the same fans for every layout)
                nn.init.zeros_(layer.bias)
        channels_last(self)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> ConvAESeed:
        return cls()


SPEC = ModelSpec("mnist_conv_ae_seed", "mnist-conv-ae-seed", MnistTask, ConvAESeed, loss="mse",
                 description="The notebook's MNIST convolutional autoencoder, 14x14 dense latent, standardised images.")
