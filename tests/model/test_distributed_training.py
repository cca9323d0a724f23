"""Two CPU processes (torchrun + DDP, gloo) train to the same result as one process."""
import json
import sqlite3


def test_two_processes_match_one(stock_workdir):
    work = stock_workdir
    work.params["train"]["stock_rnn"]["epochs"] = 2
    work.write_params()
    assert work.stage("pipeline.ingest", "stock").returncode == 0

    def train(nproc: int) -> dict:
        work.env["PIPELINE_NPROC"] = str(nproc)
        result = work.stage("pipeline.train", "stock_rnn")
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads((work.root / "metrics/train/stock_rnn.json").read_text())

    single, double = train(1), train(2)
    assert double["epochs_run"] == single["epochs_run"] == 2
    assert abs(double["best_val_loss"] - single["best_val_loss"]) <= 1e-4 * single["best_val_loss"]
    with sqlite3.connect(work.root / "mlflow.db") as db:  # only rank 0 logs: one run per training
        processes = [row[0] for row in db.execute(
            "SELECT value FROM tags WHERE key = 'processes' ORDER BY run_uuid")]
    assert sorted(processes) == ["1", "2"]
