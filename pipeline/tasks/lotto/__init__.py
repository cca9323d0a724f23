"""Lotto 6/45 task: the next draw from the last draws, against chance and a frequency ticket.

Draws are random and independent of the past, so no model can beat chance except by
luck: the value of this model is the pipeline, not the forecast. Evaluation says so with
the exact hypergeometric chance level and a one-sided test on the held-out draws.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ...data.lotto import LottoDraws
from ...errors import ParamsError, PayloadError
from .. import Evaluation, Prepared, Verdict, chronological_split, headline_table, task_class

DRAWS_FILE = "draws.npz"
POOL, PICK = 45, 6  # numbers 1..45, six drawn
# One-sided significance level of the gate. Not 5 %: an edge over a random draw is a priori
# implausible, and every retrain (each `dvc exp run`) is another look at the same test draws;
# at 5 % one retrain in twenty would become champion by luck (seed configurations here
# reached p = 0.02-0.2 against chance, depending only on the initial weights).
ALPHA = 0.001
# Under the null (the draw is uniform, whatever the ticket): P(a given number is drawn),
# P(two given numbers are both drawn).
P_ONE = PICK / POOL
P_TWO = PICK * (PICK - 1) / (POOL * (POOL - 1))


# --- data -------------------------------------------------------------------------------


def load_draws(data_dir: Path) -> LottoDraws:
    with np.load(Path(data_dir) / DRAWS_FILE) as npz:
        return LottoDraws(rounds=npz["rounds"], dates=npz["dates"], numbers=npz["numbers"], bonus=npz["bonus"])


def normalise(numbers: np.ndarray) -> np.ndarray:
    """Numbers 1..45 -> 0..1 as float32."""
    return ((np.asarray(numbers, dtype=np.float64) - 1) / (POOL - 1)).astype(np.float32)


def denormalise(scaled: np.ndarray) -> np.ndarray:
    """Model units back to (fractional) numbers."""
    return np.asarray(scaled, dtype=np.float64) * (POOL - 1) + 1


def make_windows(numbers: np.ndarray, window: int, key: str = "window") -> tuple[np.ndarray, np.ndarray]:
    """Window i holds draws i..i+window-1 (N, window, 6); its target is draw i+window (N, 6)."""
    n = len(numbers) - window
    if n < 1:
        raise ParamsError(key, f"window {window} needs at least {window + 1} draws; the data has {len(numbers)}")
    inputs = np.lib.stride_tricks.sliding_window_view(numbers, window, axis=0)[:n].transpose(0, 2, 1)
    return np.ascontiguousarray(inputs), numbers[window:].copy()


def _tensors(inputs: np.ndarray, targets: np.ndarray) -> TensorDataset:
    return TensorDataset(torch.from_numpy(normalise(inputs)), torch.from_numpy(normalise(targets)))


class LottoRaw(TypedDict):
    """Prepared.raw: the draws as numbers, for the baselines, the metrics and the input example."""

    train_draws: np.ndarray
    test_inputs: np.ndarray
    test_draws: np.ndarray
    test_rounds: np.ndarray
    test_dates: np.ndarray


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared[LottoRaw]:
    draws = load_draws(data_dir)
    window = block["window"]
    inputs, targets = make_windows(draws.numbers, window, key=f"{key}.window")
    split = block["split"]
    train, val, test = chronological_split(len(targets), split["train"], split["val"], f"{key}.split")
    return Prepared(
        train=_tensors(inputs[train], targets[train]),
        val=_tensors(inputs[val], targets[val]),
        test=_tensors(inputs[test], targets[test]),
        meta={"window": window},
        raw={
            # every draw a training window reads or predicts: the frequency baseline's data
            "train_draws": draws.numbers[: train.stop + window],
            "test_inputs": inputs[test],
            "test_draws": targets[test],
            "test_rounds": draws.rounds[window:][test],
            "test_dates": draws.dates[window:][test],
        },
    )


# --- decoding: model output -> a valid ticket ------------------------------------------


def decode(values: np.ndarray) -> np.ndarray:
    """Outputs in number units (N, 6) -> the nearest valid tickets (N, 6): six distinct ints
    in 1..45, ascending.

    Nearest in least squares (the training loss): the ticket n_1 < ... < n_6 minimising
    sum_i (v_(i) - n_i)^2 over the sorted outputs v_(i) (an optimal assignment pairs sorted
    outputs with sorted numbers), found exactly by dynamic programming over slots x numbers.
    Rounding alone can give duplicates or numbers outside 1..45.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != PICK:
        raise ValueError(f"expected outputs of shape (N, {PICK}), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("cannot decode non-finite outputs")
    # Outputs beyond 1..45 get the end numbers either way; clipping keeps the costs finite.
    v = np.sort(np.clip(v, 1, POOL), axis=1)
    numbers = np.arange(1, POOL + 1)
    index = np.arange(POOL)
    cost = (v[:, :1] - numbers) ** 2  # (N, 45): best cost of slots 0..i with slot i on each number
    choices = []  # per slot i >= 1: slot i-1's number (index) in the best path to each number
    for i in range(1, PICK):
        best = np.minimum.accumulate(cost, axis=1)  # best over numbers <= n
        best_at = np.maximum.accumulate(np.where(cost == best, index, 0), axis=1)
        cost = np.full_like(cost, np.inf)
        cost[:, 1:] = best[:, :-1] + (v[:, i : i + 1] - numbers[1:]) ** 2  # slot i-1 strictly below
        choice = np.zeros_like(best_at)
        choice[:, 1:] = best_at[:, :-1]
        choices.append(choice)
    rows = np.arange(len(v))
    ticket = np.empty(v.shape, dtype=np.int64)
    at = cost.argmin(axis=1)
    for i in range(PICK - 1, -1, -1):
        ticket[:, i] = at
        if i:
            at = choices[i - 1][rows, at]
    return ticket + 1


@torch.no_grad()
def predict_tickets(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """Raw windows of draws (N, window, 6) -> tickets (N, 6)."""
    device = next(model.parameters()).device
    scaled = model.eval()(torch.from_numpy(normalise(inputs)).to(device)).double().cpu().numpy()
    return decode(denormalise(scaled))


# --- scoring ----------------------------------------------------------------------------


def count_matches(tickets: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Numbers each ticket shares with its draw (bonus ignored): (N, 6), (N, 6) -> (N,)."""
    return (tickets[:, :, None] == draws[:, None, :]).any(axis=2).sum(axis=1)


def match_distribution(matches: np.ndarray) -> np.ndarray:
    """Fraction of draws with 0..6 matches (7,)."""
    return np.bincount(matches, minlength=PICK + 1) / len(matches)


def chance_pmf() -> np.ndarray:
    """Exact P(k matches) for k = 0..6 of any fixed ticket against a uniform draw (hypergeometric)."""
    return np.array([math.comb(PICK, k) * math.comb(POOL - PICK, PICK - k) for k in range(PICK + 1)]) / math.comb(
        POOL, PICK
    )


def frequency_ticket(draws: np.ndarray) -> np.ndarray:
    """The six numbers drawn most often (ties: the smaller number), ascending."""
    counts = np.bincount(np.asarray(draws, dtype=np.int64).ravel(), minlength=POOL + 1)[1:]
    order = np.lexsort((np.arange(POOL), -counts))  # by count descending, then number
    return np.sort(order[:PICK] + 1)


def one_sided_p(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def z_vs_chance(matches: np.ndarray) -> float:
    """How far the mean matches lie above chance, in standard errors of a random ticket's mean."""
    pmf, k = chance_pmf(), np.arange(PICK + 1)
    mean = float(pmf @ k)
    variance = float(pmf @ k**2) - mean**2
    return (float(matches.mean()) - mean) / math.sqrt(variance / len(matches))


def z_vs_ticket(tickets: np.ndarray, other: np.ndarray, draws: np.ndarray) -> float:
    """Paired test of `tickets` against `other` on the same draws, with the exact null variance.

    If the draw ignores both tickets, a draw's match difference has mean 0 and variance
    2 s (P_ONE - P_TWO), s = the numbers the tickets do not share. 0 when they never differ.
    """
    differences = count_matches(tickets, draws) - count_matches(other, draws)
    shared = count_matches(tickets, other)
    variance = float(np.sum(2 * (PICK - shared) * (P_ONE - P_TWO)))
    return float(differences.sum()) / math.sqrt(variance) if variance > 0 else 0.0


# --- evaluation and gate ----------------------------------------------------------------


# the metric key prefix of each ticket's figures, and the headline table: every figure beside chance's and
# the frequency ticket's
PREFIXES = {"model": "test", "chance": "baseline_chance_test", "frequency": "baseline_frequency_test"}
HEADLINE = {f"test_{figure}": {name: f"{prefix}_{figure}" for name, prefix in PREFIXES.items()}
            for figure in ("mean_matches", *(f"match_frac_{k}" for k in range(PICK + 1)))}


def evaluate(model: nn.Module, prepared: Prepared[LottoRaw], block: dict) -> Evaluation:
    raw = prepared.raw
    draws = raw["test_draws"]
    tickets = predict_tickets(model, raw["test_inputs"])
    frequency = np.broadcast_to(frequency_ticket(raw["train_draws"]), draws.shape)
    model_matches, frequency_matches = count_matches(tickets, draws), count_matches(frequency, draws)
    pmf = chance_pmf()
    distributions = {
        "model": match_distribution(model_matches),
        "chance": pmf,
        "frequency": match_distribution(frequency_matches),
    }
    z_chance, z_frequency = z_vs_chance(model_matches), z_vs_ticket(tickets, frequency, draws)
    metrics: dict[str, float] = {
        "test_mean_matches": float(model_matches.mean()),
        "baseline_chance_test_mean_matches": float(pmf @ np.arange(PICK + 1)),
        "baseline_frequency_test_mean_matches": float(frequency_matches.mean()),
        "test_z_vs_chance": z_chance,
        "test_p_vs_chance": one_sided_p(z_chance),
        "test_z_vs_frequency": z_frequency,
        "test_p_vs_frequency": one_sided_p(z_frequency),
        "test_draws": float(len(draws)),
        "test_distinct_tickets": float(len(np.unique(tickets, axis=0))),
    }
    for name, prefix in PREFIXES.items():
        for k, fraction in enumerate(distributions[name]):
            metrics[f"{prefix}_match_frac_{k}"] = float(fraction)
    rows = [
        {"matches": k, **{name: round(float(d[k]), 8) for name, d in distributions.items()}}
        for k in range(PICK + 1)
    ]
    rounds, dates = raw["test_rounds"], raw["test_dates"]
    return Evaluation(
        metrics=metrics,
        tables={"headline": headline_table(metrics, HEADLINE), "match_distribution": rows},
        figures={"match_distribution": _distribution_figure(rows, metrics)},
        notes={
            "verdict": gate(metrics).reason,
            "randomness": "Lotto draws are random and independent of past draws: no model can beat chance "
                          f"({metrics['baseline_chance_test_mean_matches']:.1f} matched numbers per ticket) "
                          "except by luck; the value of this model is the pipeline, not the forecast.",
            "frequency_ticket": " ".join(map(str, frequency[0])),
            "test_period": f"rounds {rounds[0]}..{rounds[-1]} ({dates[0]} .. {dates[-1]})",
        },
    )


def _distribution_figure(rows: list[dict], metrics: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = np.array([r["matches"] for r in rows])
    labels = {
        "model": f"model (mean {metrics['test_mean_matches']:.3f})",
        "chance": f"chance (mean {metrics['baseline_chance_test_mean_matches']:.3f})",
        "frequency": f"frequency ticket (mean {metrics['baseline_frequency_test_mean_matches']:.3f})",
    }
    fig, ax = plt.subplots(figsize=(8, 4))
    for offset, (name, label) in zip((-0.27, 0, 0.27), labels.items()):
        ax.bar(k + offset, [r[name] for r in rows], width=0.27, label=label)
    ax.set_xticks(k)
    ax.set_xlabel("matched numbers per draw")
    ax.set_ylabel("fraction of test draws")
    ax.set_title(f"Lotto 6/45: matches on {int(metrics['test_draws'])} held-out draws "
                 f"(model vs chance: one-sided p={metrics['test_p_vs_chance']:.2g})")
    ax.legend()
    fig.tight_layout()
    return fig


def gate(metrics: dict) -> Verdict:
    model = metrics["test_mean_matches"]
    chance, frequency = metrics["baseline_chance_test_mean_matches"], metrics["baseline_frequency_test_mean_matches"]
    p_chance, p_frequency = metrics["test_p_vs_chance"], metrics["test_p_vs_frequency"]
    passed = p_chance < ALPHA and p_frequency < ALPHA
    figures = (
        f"mean matches per draw {model:.3f} vs chance {chance:.3f} (one-sided p={p_chance:.3g}) and the "
        f"frequency ticket {frequency:.3f} (p={p_frequency:.3g}) over {int(metrics['test_draws'])} draws"
    )
    outcome = "beats both" if passed else "not better than luck"
    reason = f"{figures}: {outcome} at the {ALPHA:g} level"
    return Verdict(passed=passed, score=p_chance, score_name="test_p_vs_chance", reason=reason)


# --- serving ----------------------------------------------------------------------------


def input_example(prepared: Prepared[LottoRaw]) -> np.ndarray:
    """The last `window` draws of the test period, oldest first: a request for the next draw."""
    window = prepared.meta["window"]
    last = np.concatenate([prepared.raw["test_inputs"][-1], prepared.raw["test_draws"][-1:]])[-window:]
    return last.astype(np.float64)  # float: an int64 signature would truncate 3.5 to 3 unseen


def serve(model: nn.Module, meta: dict, request) -> np.ndarray:
    """The last `window` draws, 6 numbers each, oldest first ((window, 6) or (1, window, 6))
    -> the predicted ticket: one row of six distinct numbers 1..45, ascending (1, 6)."""
    window = meta["window"]
    try:
        values = np.asarray(request.to_numpy() if hasattr(request, "to_numpy") else request)
    except ValueError:
        raise PayloadError(f"expected {window} draws of {PICK} numbers each; rows differ in length") from None
    if values.dtype.kind not in "iuf":
        raise PayloadError(f"expected numbers 1..{POOL}, got non-numeric values")
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.shape != (window, PICK):
        raise PayloadError(
            f"expected {window} draws of {PICK} numbers (a {window}x{PICK} array, oldest first), "
            f"got shape {'x'.join(map(str, values.shape))}"
        )
    values = values.astype(np.float64)
    for bad, problem in (
        (~np.isfinite(values), "expected a number, got {}"),
        (values != np.round(values), "expected a whole number, got {}"),
        ((values < 1) | (values > POOL), f"number {{:g}} is outside 1..{POOL}"),
    ):
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise PayloadError(f"row {row}, position {col}: " + problem.format(values[row, col]))
    draws = np.sort(values.astype(np.int64), axis=1)
    repeated = np.argwhere(draws[:, 1:] == draws[:, :-1])
    if len(repeated):
        row, col = repeated[0]
        raise PayloadError(f"row {row}: number {draws[row, col]} appears twice; a draw has {PICK} distinct numbers")
    return predict_tickets(model, draws[None])


LottoTask = task_class("LottoTask", "lotto", __name__, prepare=prepare, evaluate=evaluate, gate=gate,
                       input_example=input_example, serve=serve)
