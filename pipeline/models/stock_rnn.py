"""stock_rnn: next-day close from a window of daily prices (the notebook's Elman RNN)."""
from __future__ import annotations

import torch
from torch import nn

from ..tasks import ModelSpec
from ..tasks.stock import StockTask


class StockRNN(nn.Module):
    """The notebook's model: an Elman RNN whose whole output sequence feeds an MLP head."""

    def __init__(self, n_features: int, window: int, hidden_size: int, num_layers: int, head_hidden: int):
        super().__init__()
        self.rnn = nn.RNN(n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(window * hidden_size, head_hidden), nn.ReLU(), nn.Linear(head_hidden, 1)
        )

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> StockRNN:
        return cls(len(meta["features"]), meta["window"], block["hidden_size"], block["num_layers"], block["head_hidden"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, window, F) -> (N, 1)
        out, _ = self.rnn(x)  # zero initial state
        return self.head(out)


SPEC = ModelSpec("stock_rnn", "stock-rnn", StockTask, StockRNN, loss="mse",
                 description="Next-day NFLX close from 30 days of Open/High/Low with an Elman RNN.")
