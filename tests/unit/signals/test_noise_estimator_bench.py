"""The noise estimator study's measures and its tables (benchmarks/denoiser/noise_estimator.py)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "denoiser"))
from noise_estimator import LENGTHS, markdown, measure, noise_settings  # noqa: E402

from pipeline.data.signals import generate_signals, noise_label  # noqa: E402


def test_every_setting_is_a_distinct_noise_the_generator_takes():
    settings = noise_settings()
    labels = [noise_label(setting["kind"], setting) for *_, setting in settings]
    assert len(set(labels)) == len(labels) == 10
    s = generate_signals(2, ["sine"], [setting for *_, setting in settings], length=32)
    assert s.noise_names == tuple(labels)


def test_on_white_gaussian_noise_over_a_line_the_estimate_reads_the_draw():
    rng = np.random.default_rng(0)
    pure = np.tile(np.linspace(0, 1, 1000), (200, 1))  # range 1: the nominal level is sigma
    cell = measure(pure + 0.1 * rng.standard_normal(pure.shape), pure, 0.1)
    assert cell["median"] == pytest.approx(1, abs=0.02) and cell["median_vs_nominal"] == pytest.approx(1, abs=0.02)
    assert cell["p10"] < cell["median"] < cell["p90"] < 1.1
    assert cell["glitch_share"] < 1e-4


def test_a_point_far_out_is_flagged_and_counted():
    pure = np.zeros((4, 100))
    pure[:, 0] = 1.0
    noisy = pure + 0.01 * np.random.default_rng(1).standard_normal(pure.shape)
    noisy[:, 50] += 1.0  # one glitch per signal
    assert measure(noisy, pure, 0.01)["glitch_share"] == pytest.approx(1 / 100)


def test_markdown_has_three_tables_with_a_row_per_setting():
    cells = [{"noise": name, "sigma": sigma, "length": length, "median": 0.9, "p10": 0.8, "p90": 1.0,
              "median_vs_nominal": 0.85, "glitch_share": 0.0012} for name, sigma, _ in noise_settings()
             for length in LENGTHS]
    text = markdown({"per_group": 200, "families": ["sine", "steps"], "cells": cells})
    rows = [line for line in text.splitlines() if line.startswith("| laplace | 0.2 |")]
    assert rows == ["| laplace | 0.2 | " + " | ".join(["0.90 (0.80-1.00)"] * 5) + " |",
                    "| laplace | 0.2 | " + " | ".join(["0.85"] * 5) + " |",
                    "| laplace | 0.2 | " + " | ".join(["0.120"] * 5) + " |"]
    assert "200 signals of each of sine, steps per cell" in text
