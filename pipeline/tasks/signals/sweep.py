"""The signal models' evaluation across lengths and noise kinds (`signals.sweep` in params.yaml).

Each sweep length has its own validation file (which tunes the classical filters, per group, as
for the main test file) and test file: every family, held-out kinds included, x the sweep's noises
(Gaussian, heavy-tailed, coloured). Each family x noise group is scored as the main test file's
groups are (scoring.group_rows); a cell is one length x noise x kinds (trained or held-out):

- trained kinds: the share of groups where the guarded model beats the best classical filter
  (wavelet and total variation included), which should be at least TRAINED_PASS_SHARE;
- held-out kinds: the lowest group gain over the input, which should be at least 0 dB (do no harm);
- both: the share of signals sent back worse than they came, the model's and the best classical
  filter's.

A cell that misses says so in its `status` (and, under the guard's GUARD_MIN_LENGTH, that the answer
there is the input itself). The cells go to plots/<model>/sweep_cells.csv, every
group to plots/<model>/sweep.csv, and four figures to the metrics. A model that takes one length
only (the seed denoiser) is swept at that length alone.
"""
from __future__ import annotations

from pathlib import Path

from ...data.signals import SignalSet, load_signal_set, sweep_file
from .. import Evaluation, Prepared
from . import MinMaxDenoiser, SignalsRaw
from .guard import GUARD_MIN_LENGTH, guarded_denoise, median_flag_fallback
from .scoring import group_rows, passes, rounded, summary_rows
from .scoring import evaluate as evaluate_test_file

TRAINED_PASS_SHARE = 0.9  # trained kinds: the share of a cell's groups where the model beats the best classical


def load_sweep(data_dir: Path) -> dict[int, tuple[SignalSet, SignalSet]]:
    """The sweep files in `data_dir` (pipeline.generate_signals), by length: (validation, test)."""
    lengths = sorted(int(p.stem.rsplit("_", 1)[1]) for p in Path(data_dir).glob(sweep_file("val", "*")))
    return {n: (load_signal_set(Path(data_dir) / sweep_file("val", n)), load_signal_set(Path(data_dir) / sweep_file("test", n)))
            for n in lengths}


def sweep_rows(model: MinMaxDenoiser, sweep: dict, length: int) -> list[dict]:
    """Every group of every sweep length the model takes (`length`: its training length, the only one a
    fixed-length model takes), with its length and whether it passes (scoring.passes)."""
    rows = []
    for points, (val, test) in sorted(sweep.items()):
        if model.fixed_length and points != length:
            continue
        guarded = guarded_denoise(model, test.noisy)
        for row in group_rows(val, test, guarded, median_flag_fallback(test.noisy, guarded)):
            rows.append({"length": points, **row, "passes": passes(row)})
    return rows


def _status(cell: dict, part: list[dict]) -> str:
    if cell["kinds"] == "trained":
        passing, groups = cell["groups_passing"], cell["groups"]
        short = f" (under {GUARD_MIN_LENGTH} points the guard returns the input)" if cell["length"] < GUARD_MIN_LENGTH else ""
        ok = passing >= TRAINED_PASS_SHARE * groups
        return "ok" if ok else f"miss: beats the best classical filter on {passing} of {groups} groups{short}"
    worst = min(part, key=lambda r: r["model"])
    return "ok" if worst["model"] >= 0 else f"harm: {worst['family']} {worst['model']:+.2f} dB"


# a cell's figures (scoring.summary_rows over length x noise), in its table's column order
CELL_COLUMNS = ("length", "noise", "kinds", "groups", "groups_passing", "model", "best_classical", "min_model",
                "worse_share", "best_classical_worse_share")


def sweep_cells(rows: list[dict]) -> list[dict]:
    """One row per length x noise x kinds (by length, the trained kinds' cells first): groups, passing,
    mean and lowest gains, worse shares, status."""
    cells = []
    by_length = sorted(summary_rows(rows, ("length", "noise")), key=lambda c: (c["length"], c["kinds"] == "held_out"))
    for cell in by_length:
        part = [r for r in rows if (r["length"], r["noise"], r["held_out"]) == (cell["length"], cell["noise"],
                                                                               cell["kinds"] == "held_out")]
        cells.append({**{k: cell[k] for k in CELL_COLUMNS}, "status": _status(cell, part)})
    return cells


def sweep_metrics(cells: list[dict]) -> dict[str, float]:
    """Four figures for the metrics file: cells that hold their rule, of all cells; the lowest held-out
    group gain; the lowest trained pass share of any cell."""
    trained = [c for c in cells if c["kinds"] == "trained"]
    held = [c for c in cells if c["kinds"] == "held_out"]
    return {
        "sweep_cells": float(len(cells)),
        "sweep_cells_ok": float(sum(c["status"] == "ok" for c in cells)),
        "sweep_held_out_min_snr_gain_db": min((c["min_model"] for c in held), default=float("nan")),
        "sweep_min_trained_pass_share": min((c["groups_passing"] / c["groups"] for c in trained), default=float("nan")),
    }


def evaluate(model: MinMaxDenoiser, prepared: Prepared[SignalsRaw], block: dict) -> Evaluation:
    """The main test file's evaluation (scoring.evaluate), with the sweep's tables and figures added."""
    evaluation = evaluate_test_file(model, prepared, block)
    data_dir = prepared.raw.get("data_dir")
    sweep = load_sweep(data_dir) if data_dir is not None else {}
    if not sweep:
        return evaluation
    rows = sweep_rows(model, sweep, prepared.meta["length"])
    cells = sweep_cells(rows)
    misses = [f"{c['length']} points, {c['noise']}, {c['kinds']}: {c['status']}" for c in cells if c["status"] != "ok"]
    return Evaluation(
        metrics={**evaluation.metrics, **sweep_metrics(cells)},
        tables={**evaluation.tables, "sweep": rounded(rows), "sweep_cells": rounded(cells)},
        figures=evaluation.figures,
        notes={**evaluation.notes,
               "sweep": f"{len(cells) - len(misses)} of {len(cells)} length x noise cells hold their rule"
                        + (f"; misses: {'; '.join(misses)}"[:4000] if misses else "")},
    )
