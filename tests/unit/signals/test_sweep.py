"""The evaluation across lengths and noise kinds: the sweep's files, its cells and their rules."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_params
from pipeline.data.signals import load_signal_set, sweep_file
from pipeline.generate_signals import generate
from pipeline.tasks.signals.guard import GUARD_MIN_LENGTH
from pipeline.tasks.signals.sweep import TRAINED_PASS_SHARE, load_sweep, sweep_cells, sweep_metrics


def row(length, noise, held_out, model, best, family="sine", worse=0.0):
    passes = (model >= 0 and model - best >= -1.0) if held_out else model - best > 0
    return {"length": length, "noise": noise, "held_out": held_out, "family": family, "model": model,
            "best_classical": best, "margin_db": model - best, "worse_share": worse,
            "best_classical_worse_share": 0.5, "passes": passes,
            "net": model, "fallback_share": 0.0, "trend_share": 0.0, "walk_share": 0.0}


def test_a_trained_cell_holds_at_the_pass_share_and_misses_below_it():
    n = 10
    need = int(np.ceil(TRAINED_PASS_SHARE * n))
    holding = [row(64, "laplace", False, 5.0, 4.0) for _ in range(need)] + \
              [row(64, "laplace", False, 3.0, 4.0) for _ in range(n - need)]
    [cell] = sweep_cells(holding)
    assert cell["status"] == "ok" and cell["groups_passing"] == need and cell["groups"] == n
    missing = holding[1:] + [row(64, "laplace", False, 3.0, 4.0)]
    [cell] = sweep_cells(missing)
    assert cell["status"] == f"miss: beats the best classical filter on {need - 1} of {n} groups"


def test_a_trained_cell_too_short_for_the_guard_says_the_answer_is_the_input():
    short = [row(GUARD_MIN_LENGTH - 1, "laplace", False, 0.0, 2.0) for _ in range(10)]
    [cell] = sweep_cells(short)
    assert cell["status"] == ("miss: beats the best classical filter on 0 of 10 groups "
                              f"(under {GUARD_MIN_LENGTH} points the guard returns the input)")
    [cell] = sweep_cells([{**r, "length": GUARD_MIN_LENGTH} for r in short])
    assert cell["status"] == "miss: beats the best classical filter on 0 of 10 groups"


def test_a_held_out_cell_is_harmed_by_one_group_below_zero_db():
    rows = [row(32, "ar1", True, 2.0, 1.0, "bumps"), row(32, "ar1", True, -0.25, 1.0, "heavisine")]
    [cell] = sweep_cells(rows)
    assert cell["status"] == "harm: heavisine -0.25 dB"
    assert cell["min_model"] == -0.25 and cell["model"] == pytest.approx(0.875)
    [cell] = sweep_cells(rows[:1] + [row(32, "ar1", True, 0.0, 1.0, "heavisine")])
    assert cell["status"] == "ok"  # 0 dB: the input back, no harm


def test_a_cell_holds_the_means_of_its_groups_beside_the_best_classical_filter():
    rows = [row(150, "laplace", False, 5.0, 4.0, worse=0.1), row(150, "laplace", False, 3.0, 2.0, worse=0.3)]
    rows[1]["best_classical_worse_share"] = 0.25
    [cell] = sweep_cells(rows)
    assert cell["model"] == pytest.approx(4.0) and cell["best_classical"] == pytest.approx(3.0)
    assert cell["min_model"] == 3.0
    assert cell["worse_share"] == pytest.approx(0.2) and cell["best_classical_worse_share"] == pytest.approx(0.375)


def test_the_metrics_of_a_sweep_with_one_kind_of_cell_leave_the_other_figure_unset():
    trained_only = sweep_metrics(sweep_cells([row(150, "laplace", False, 5.0, 4.0)]))
    assert trained_only["sweep_min_trained_pass_share"] == 1.0
    assert isinstance(trained_only["sweep_held_out_min_snr_gain_db"], float)
    assert np.isnan(trained_only["sweep_held_out_min_snr_gain_db"])
    held_only = sweep_metrics(sweep_cells([row(150, "laplace", True, -0.5, 0.0, "bumps")]))
    assert held_only["sweep_held_out_min_snr_gain_db"] == -0.5
    assert isinstance(held_only["sweep_min_trained_pass_share"], float)
    assert np.isnan(held_only["sweep_min_trained_pass_share"])


def test_the_metrics_count_cells_that_hold_and_take_the_trained_cells_lowest_pass_share():
    rows = [row(64, "laplace", False, 5.0, 4.0), row(64, "laplace", False, 3.0, 4.0),  # trained: 1 of 2
            row(64, "laplace", True, 1.0, 0.5, "bumps"),  # held out: holds, 1 of 1 passes
            row(512, "laplace", True, 2.0, 0.5, "bumps")]  # held out: holds
    metrics = sweep_metrics(sweep_cells(rows))
    assert metrics["sweep_cells"] == 3.0 and metrics["sweep_cells_ok"] == 2.0
    assert metrics["sweep_min_trained_pass_share"] == 0.5
    assert metrics["sweep_held_out_min_snr_gain_db"] == 1.0


def test_cells_run_by_length_with_the_trained_kinds_cells_first():
    rows = [row(64, noise, held, 1.0, 0.5, family) for noise in ("relative", "laplace")
            for held, family in ((False, "sine"), (True, "bumps"))]
    cells = sweep_cells(rows + [row(32, "relative", False, 1.0, 0.5)])
    assert [(c["length"], c["noise"], c["kinds"]) for c in cells] == [
        (32, "relative", "trained"), (64, "relative", "trained"), (64, "laplace", "trained"),
        (64, "relative", "held_out"), (64, "laplace", "held_out")]


def test_cells_split_by_length_noise_and_kinds_and_the_metrics_take_the_worst():
    rows = [row(32, "laplace", False, 5.0, 4.0), row(32, "laplace", True, -1.0, 0.5, "bumps"),
            row(2048, "laplace", False, 1.0, 4.0), row(2048, "ar1", True, 0.5, 0.0, "bumps")]
    cells = sweep_cells(rows)
    assert [(c["length"], c["noise"], c["kinds"]) for c in cells] == [
        (32, "laplace", "trained"), (32, "laplace", "held_out"), (2048, "laplace", "trained"), (2048, "ar1", "held_out")]
    assert sweep_metrics(cells) == {"sweep_cells": 4.0, "sweep_cells_ok": 2.0, "sweep_held_out_min_snr_gain_db": -1.0,
                                    "sweep_min_trained_pass_share": 0.0}


def test_the_sweep_files_cover_every_length_with_the_main_files_span(tmp_path):
    params = load_params()
    sweep = params["signals"]["sweep"]
    params["signals"]["sweep"] = {**sweep, "lengths": [32, 300], "n_per_family": 2}
    generate(params, out_dir=tmp_path / "signals")
    loaded = load_sweep(tmp_path / "signals")
    assert sorted(loaded) == [32, 300]
    main = load_signal_set(tmp_path / "signals" / "signals.npz")
    for length, (val, test) in loaded.items():
        assert val.noisy.shape[1] == test.noisy.shape[1] == length
        assert val.x[0] == pytest.approx(main.x[0]) and val.x[-1] < main.x[-1] + main.x[1] - main.x[0]
        assert val.family_names == main.family_names and val.held_out == main.held_out
        assert len(val.noise_names) == len(sweep["noises"])
        assert not np.array_equal(val.noisy[:, :8], test.noisy[:, :8])  # drawn apart: val tunes, test scores
    assert (tmp_path / "signals" / sweep_file("test", 300)).is_file()
