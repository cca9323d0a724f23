"""mnist_lstm_ae_seed: the notebook's LSTM autoencoder: rows as time steps, two summed bidirectional LSTMs."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask


class KerasLSTM(nn.Module):
    """Keras' Bidirectional(LSTM(hidden, return_sequences=True), merge_mode="sum"): one bias per gate
    and direction (PyTorch has two), Glorot-uniform input weights, orthogonal recurrent weights, zero
    biases but the forget gate's, 1 (unit_forget_bias). The bias is an input weight on a constant 1,
    so the fused PyTorch LSTM runs it with Keras' parameters, no more."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(features + 1, hidden, batch_first=True, bidirectional=True, bias=False)
        for name, weight in self.lstm.named_parameters():
            with torch.no_grad():
                if name.startswith("weight_hh"):
                    nn.init.orthogonal_(weight)
                else:  # weight_ih: the inputs' columns, then the bias column (gates i, f, g, o)
                    nn.init.xavier_uniform_(weight[:, :features])
                    weight[:, features] = 0.0
                    weight[hidden : 2 * hidden, features] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = x.new_ones(*x.shape[:-1], 1)
        steps, _ = self.lstm(torch.cat([x, ones], dim=-1))
        forward, backward = steps.chunk(2, dim=-1)
        return forward + backward


class LSTMAESeed(nn.Module):
    """The notebook's Keras model (dimension reduction), on standardised images: 28 rows of 28 pixels
    as steps → Bidirectional(LSTM(h), sum) → Bidirectional(LSTM(h), sum) → TimeDistributed(Dense(28)).
    No bottleneck but h numbers per step: the code is the first layer's 28 × h outputs."""

    def __init__(self, hidden: int):
        super().__init__()
        self.latent_size = SIDE * hidden
        self.encoder = KerasLSTM(SIDE, hidden)
        self.decoder = KerasLSTM(hidden, hidden)
        self.to_row = nn.Linear(hidden, SIDE)
        nn.init.xavier_uniform_(self.to_row.weight)
        nn.init.zeros_(self.to_row.bias)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> LSTMAESeed:
        return cls(block["hidden"])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_row(self.decoder(self.encoder(x)))  # Linear acts on the last dim: every step alike


SPEC = ModelSpec("mnist_lstm_ae_seed", "mnist-lstm-ae-seed", MnistTask, LSTMAESeed, loss="mse",
                 description="The notebook's MNIST LSTM autoencoder: rows as steps, two summed bidirectional LSTMs.")
