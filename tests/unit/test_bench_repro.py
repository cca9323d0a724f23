"""The repro benchmark's figures: convergence, read from two per-epoch histories of one repro,
each stage's wall time, read from `dvc repro`'s output as it arrives, and each model chain's, read
from `python -m pipeline.repro`'s last line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from run import chain_seconds, convergence, read_history, run_timed, stage_seconds  # noqa: E402


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


def test_history_with_a_column_only_the_refine_epochs_fill(tmp_path):
    """The two-phase denoiser's loss CSV: refine_val_loss is empty before the refine epochs."""
    path = tmp_path / "losses.csv"
    path.write_text("epoch,val_mse_raw,seconds,refine_val_loss\n1,0.5,10,\n2,0.3,20,0.9\n")
    rows = read_history(path)
    assert rows == [{"epoch": 1.0, "val_mse_raw": 0.5, "seconds": 10.0},
                    {"epoch": 2.0, "val_mse_raw": 0.3, "seconds": 20.0, "refine_val_loss": 0.9}]
    assert convergence(rows, rows)["epochs_to_reference"] == 2


def test_stage_seconds_run_from_one_stage_start_to_the_next():
    lines = [(0.5, "Running stage 'ingest':\n"), (0.6, "> python -m pipeline.ingest\n"),
             (3.0, "Running stage 'train@a':\n"), (9.0, "Updating lock file 'dvc.lock'\n"),
             (10.25, "Running stage 'summary':\n"), (11.0, "Use `dvc push` to send your updates\n")]
    assert stage_seconds(lines, finished=12.0) == {"ingest": 2.5, "train@a": 7.2, "summary": 1.8}


def test_stage_seconds_of_a_repro_that_ran_nothing():
    assert stage_seconds([(0.1, "Stage 'ingest' didn't change, skipping\n")], finished=1.0) == {}


def test_chain_seconds_from_the_runners_last_line():
    lines = [(1.0, "[a] Running stage 'train@a':\n"),
             (9.0, "repro: signal_denoiser 251 s, mnist_lstm_ae 98 s; 412 s in all\n")]
    assert chain_seconds(lines) == {"signal_denoiser": 251.0, "mnist_lstm_ae": 98.0}
    assert chain_seconds([(2.0, "repro: no model chain changed; 4 s in all\n")]) == {}


def test_run_timed_stamps_each_line_and_raises_with_the_output(tmp_path):
    seconds, lines = run_timed([sys.executable, "-c", "import time; print('a'); time.sleep(0.3); print('b')"],
                               tmp_path, dict(os.environ))
    assert [line for _, line in lines] == ["a\n", "b\n"]
    assert lines[1][0] - lines[0][0] >= 0.25 and seconds >= lines[1][0]
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_timed([sys.executable, "-c", "print('why'); raise SystemExit(3)"], tmp_path, dict(os.environ))
    assert failed.value.returncode == 3 and "why" in failed.value.output
