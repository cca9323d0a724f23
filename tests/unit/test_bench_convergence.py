"""The benchmark's convergence figure, read from two per-epoch histories of one repro."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from run import convergence  # noqa: E402


def history(mses, step_s=10.0):
    return [{"epoch": i + 1, "val_mse_raw": m, "seconds": step_s * (i + 1)} for i, m in enumerate(mses)]


def test_epochs_and_seconds_to_the_reference_best_error():
    reference = history([0.5, 0.3, 0.35])  # best epoch 2: the target is 0.3, not the last value
    figures = convergence(reference, history([0.6, 0.31, 0.29, 0.1], step_s=4.0))
    assert figures["reference_val_mse"] == 0.3 and figures["reference_seconds"] == 30.0
    assert figures["epochs_to_reference"] == 3 and figures["seconds_to_reference"] == 12.0
    assert figures["model_epochs_run"] == 4


def test_not_reached_is_none():
    figures = convergence(history([0.1]), history([0.2, 0.15]))
    assert figures["epochs_to_reference"] is None and figures["seconds_to_reference"] is None
