"""The leave-one-kind-out benchmark's results file, table and MLflow metrics."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "denoiser"))
from leave_kind_out import markdown, mlflow_metrics, summarise, training_block  # noqa: E402


def kind(passing, gains):
    return {"train_seconds": 40.0, "groups_passing": passing, "groups": len(gains),
            "noises": {noise: {"model": model, "net": model - 0.5, "best_classical": best, "margin_db": model - best,
                               "fallback_share": 0.25}
                       for noise, (model, best) in gains.items()}}


SUMMARY = summarise({"sine": kind(2, {"relative_sigma0.01": (7.7, 7.6), "spikes": (14.3, 12.6)}),
                     "steps": kind(0, {"relative_sigma0.01": (-2.8, 1.5), "spikes": (9.8, 10.9)})}, epochs=6)


def test_summary_totals_every_kind():
    assert (SUMMARY["groups_passing"], SUMMARY["groups"], SUMMARY["epochs"]) == (2, 4, 6)


def test_markdown_has_a_row_per_kind_with_its_cells_and_count():
    lines = markdown(SUMMARY).splitlines()
    assert lines[0] == "| held-out kind | relative_sigma0.01 | spikes | passing |"
    assert lines[2] == "| sine | +7.7 / +7.6 | +14.3 / +12.6 | 2/2 |"
    assert lines[3] == "| steps | -2.8 / +1.5 | +9.8 / +10.9 | 0/2 |"
    assert "2 of 4 groups pass; 6 epochs per model" in lines[-1]


def test_mlflow_metrics_are_named_like_the_evaluations_and_numeric():
    metrics = mlflow_metrics(SUMMARY)
    assert metrics["lko_snr_gain_db_steps_relative_sigma0.01"] == -2.8
    assert metrics["lko_best_classical_snr_gain_db_sine_spikes"] == 12.6
    assert metrics["lko_net_snr_gain_db_sine_spikes"] == 13.8
    assert metrics["lko_groups_passing_steps"] == 0 and metrics["lko_groups_passing"] == 2
    assert all(isinstance(v, float) for v in metrics.values())
    assert len(metrics) == 2 + 2 * 2 + 4 * 4


def test_fewer_epochs_keep_the_share_of_refine_epochs():
    params = {"train": {"signal_denoiser": {"epochs": 20, "refine_epochs": 4, "lr": 2e-3}}}
    assert training_block(params, 6) == {"epochs": 6, "refine_epochs": 1, "lr": 2e-3}
    assert training_block(params, 2)["refine_epochs"] == 0
    assert params["train"]["signal_denoiser"]["epochs"] == 20  # the params are not changed
