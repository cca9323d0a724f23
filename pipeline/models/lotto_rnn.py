"""lotto_rnn: the next draw from the last `window` draws (the notebook's Elman RNN)."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.lotto import PICK, LottoTask


class LottoRNN(nn.Module):
    """The notebook's model: an Elman RNN whose last time step feeds an MLP head with dropout."""

    def __init__(self, hidden_size: int, num_layers: int, dropout: float, head_sizes: list[int]):
        super().__init__()
        # nn.RNN applies dropout between stacked layers only; it warns if there are none
        self.rnn = nn.RNN(PICK, hidden_size, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        layers: list[nn.Module] = []
        width = hidden_size
        for size in head_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, PICK))

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> LottoRNN:
        return cls(block["hidden_size"], block["num_layers"], block["dropout"], block["head_sizes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, window, 6) -> (N, 6)
        out, _ = self.rnn(x)  # zero initial state
        return self.head(out[:, -1])


SPEC = ModelSpec("lotto_rnn", "lotto-rnn", LottoTask, LottoRNN, loss="mse",
                 description="Lotto 6/45: the next draw from the last 10 with an Elman RNN (draws are random; "
                 "scored against chance).")
