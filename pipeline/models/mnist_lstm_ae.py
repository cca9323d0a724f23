"""mnist_lstm_ae: MNIST LSTM autoencoder: 28 rows as time steps, repeated latent, LSTM decoder."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.mnist import SIDE
from ..tasks.mnist.task import MnistTask


class LSTMAE(nn.Module):
    """Rows as time steps: an LSTM encoder (optionally bidirectional) reads 28 rows of 28
    pixels; its last hidden state(s) → linear latent, repeated at every step into an LSTM
    decoder; a time-distributed dense layer turns each step into a row. The output is
    linear (clipped to [0, 1] by `run_model`): behind a sigmoid, this model sat near the
    mean image for epochs."""

    def __init__(self, hidden: int, latent: int, bidirectional: bool):
        super().__init__()
        self.latent_size = latent
        self.encoder = nn.LSTM(SIDE, hidden, batch_first=True, bidirectional=bidirectional)
        self.to_latent = nn.Linear(hidden * (2 if bidirectional else 1), latent)
        self.decoder = nn.LSTM(latent, hidden, batch_first=True)
        self.to_row = nn.Linear(hidden, SIDE)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> LSTMAE:
        return cls(block["hidden"], block["latent"], block["bidirectional"])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _, (last, _) = self.encoder(x)  # last: (directions, N, hidden)
        return self.to_latent(torch.cat(list(last), dim=1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        steps, _ = self.decoder(z.unsqueeze(1).expand(-1, SIDE, -1))  # the code repeated at every step
        return self.to_row(steps)  # Linear acts on the last dim: the same dense layer at every step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


SPEC = ModelSpec("mnist_lstm_ae", "mnist-lstm-ae", MnistTask, LSTMAE, loss="mse",
                 description="MNIST LSTM autoencoder: 28 rows as time steps, repeated latent, LSTM decoder.")
