"""Lotto: the draws so far (the official xlsx, or a CSV of draws) -> six numbers for the next draw."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.lotto import read_lotto_xlsx
from ..errors import DataError
from ..tasks.lotto import PICK, POOL
from .common import Outputs, read_number_rows


@dataclass(frozen=True)
class Draws:
    numbers: np.ndarray  # (N, 6) ints, oldest first
    newest_round: int | None  # the file's newest round, where it says (the xlsx)


def read(path: Path) -> Draws:
    if path.suffix.lower() == ".xlsx":
        draws = read_lotto_xlsx(path)
        return Draws(draws.numbers.astype(np.int64), int(draws.rounds[-1]))
    if path.suffix.lower() == ".csv":
        return Draws(read_draws_csv(path), None)
    raise DataError(path, "expected an .xlsx workbook in the official layout or a .csv of draws "
                          f"({PICK} numbers per row, oldest first)")


def read_draws_csv(path: Path) -> np.ndarray:
    """One draw per row, six distinct whole numbers 1..45, oldest first (a header line is allowed)."""
    rows = read_number_rows(path, f"draws of {PICK} numbers")
    values = rows.values
    if values.shape[1] != PICK:
        raise DataError(path, f"{values.shape[1]} numbers per row, expected {PICK} (one draw per row)",
                        f"line {rows.lines[0]}")
    for bad, problem in ((values != np.round(values), "expected a whole number, found {:g}"),
                         ((values < 1) | (values > POOL), f"number {{:g}} is outside 1..{POOL}")):
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise DataError(path, problem.format(values[row, col]), f"line {rows.lines[row]}, column {col + 1}")
    numbers = values.astype(np.int64)
    ordered = np.sort(numbers, axis=1)
    repeated = np.argwhere(ordered[:, 1:] == ordered[:, :-1])
    if len(repeated):
        row, col = repeated[0]
        raise DataError(path, f"number {ordered[row, col]} appears twice; a draw has {PICK} distinct numbers",
                        f"line {rows.lines[row]}")
    return numbers


def predict(served, draws: Draws) -> Outputs:
    window = served.meta["window"]
    if len(draws.numbers) < window:
        raise DataError(served.source, f"{len(draws.numbers)} draws; the model reads the last {window} (oldest first)")
    ticket = [int(n) for n in np.asarray(served(draws.numbers[-window:].astype(np.float64)))[0]]
    round_no = None if draws.newest_round is None else draws.newest_round + 1
    out = Outputs()
    out.add_csv("next_draw.csv", ["round", *(f"n{k}" for k in range(1, PICK + 1))],
                [["" if round_no is None else round_no, *ticket]])
    target = f"round {round_no}" if round_no is not None else "the draw after the file's last one"
    out.lines += [
        f"numbers for {target}: {' '.join(map(str, ticket))} (from the last {window} draws)",
        f"Draws are random: this ticket, like any other, matches all six with probability 1 in "
        f"{math.comb(POOL, PICK):,}; the model does not beat chance.",
    ]
    return out
