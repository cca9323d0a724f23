"""The leave-one-kind-out benchmark's results file (counts: a readable DVC metrics file), its
per-group table, its markdown and its MLflow metrics."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "denoiser"))
from leave_kind_out import group_rows, markdown, mlflow_metrics, summarise, training_block  # noqa: E402


def kind(passing, gains):
    return {"train_seconds": 40.0, "groups_passing": passing, "groups": len(gains),
            "noises": {noise: {"model": model, "net": model - 0.5, "best_classical": best, "margin_db": model - best,
                               "fallback_share": 0.25}
                       for noise, (model, best) in gains.items()}}


KINDS = {"sine": kind(2, {"relative_sigma0.01": (7.7, 7.6), "spikes": (14.3, 12.6)}),
         "steps": kind(0, {"relative_sigma0.01": (-2.8, 1.5), "spikes": (9.8, 10.9)})}
SUMMARY = summarise(KINDS, epochs=6)
ROWS = group_rows(KINDS)


def test_summary_holds_the_counts_per_kind_and_in_all():
    assert (SUMMARY["groups_passing"], SUMMARY["groups"], SUMMARY["epochs"]) == (2, 4, 6)
    assert SUMMARY["kinds"]["steps"] == {"groups_passing": 0, "groups": 2, "train_seconds": 40.0}


def test_the_metrics_file_stays_within_forty_values_for_the_pipelines_ten_kinds():
    ten = summarise({f"kind{i}": kind(1, {f"noise{j}": (1.0, 0.5) for j in range(7)}) for i in range(10)}, 20)
    values = 3 + sum(len(k) for k in ten["kinds"].values())
    assert values == 33 and values + 6 <= 40  # publish adds six provenance leaves (commit, dirty, script, date, machine, load)


def test_group_rows_hold_every_groups_figures():
    assert len(ROWS) == 4
    assert ROWS[2] == {"kind": "steps", "noise": "relative_sigma0.01", "model": -2.8, "net": -3.3,
                       "best_classical": 1.5, "margin_db": -2.8 - 1.5, "fallback_share": 0.25}


def test_markdown_has_a_row_per_kind_with_its_cells_and_count():
    lines = markdown(SUMMARY, ROWS).splitlines()
    assert lines[0] == "| held-out kind | relative_sigma0.01 | spikes | passing |"
    assert lines[2] == "| sine | +7.7 / +7.6 | +14.3 / +12.6 | 2/2 |"
    assert lines[3] == "| steps | -2.8 / +1.5 | +9.8 / +10.9 | 0/2 |"
    assert "2 of 4 groups pass; 6 epochs per model" in lines[-1]


def test_mlflow_metrics_are_the_counts_and_numeric():
    metrics = mlflow_metrics(SUMMARY)
    assert metrics == {"lko_groups_passing": 2.0, "lko_groups": 4.0, "lko_groups_passing_sine": 2.0,
                       "lko_train_seconds_sine": 40.0, "lko_groups_passing_steps": 0.0, "lko_train_seconds_steps": 40.0}


def test_fewer_epochs_keep_the_share_of_refine_epochs():
    params = {"train": {"signal_denoiser": {"epochs": 20, "refine_epochs": 4, "lr": 2e-3}}}
    assert training_block(params, 6) == {"epochs": 6, "refine_epochs": 1, "lr": 2e-3}
    assert training_block(params, 2)["refine_epochs"] == 0
    assert params["train"]["signal_denoiser"]["epochs"] == 20  # the params are not changed
