"""Determinism across processes: the same params give the same checkpoint and metrics on CPU;
another seed gives others."""
import hashlib
import json

from pipeline.train import TIMINGS


def run_stage(work, stage: str) -> dict:
    result = work.stage(stage, "stock_rnn")
    assert result.returncode == 0, result.stderr
    kind = "train" if stage == "pipeline.train" else "eval"
    metrics = json.loads((work.root / f"metrics/{kind}/stock_rnn.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMINGS}  # wall-time figures may differ


def run_train_and_evaluate(work) -> tuple[dict, dict, str]:
    train = run_stage(work, "pipeline.train")
    weights = hashlib.md5((work.root / "models/stock_rnn/model.pt").read_bytes()).hexdigest()
    return train, run_stage(work, "pipeline.evaluate"), weights


def test_same_params_same_metrics_other_seed_other_metrics(stock_workdir):
    work = stock_workdir
    work.params["train"]["stock_rnn"]["epochs"] = 3
    work.write_params()
    assert work.stage("pipeline.ingest", "stock").returncode == 0

    first = run_train_and_evaluate(work)
    second = run_train_and_evaluate(work)
    assert second == first  # metrics exactly equal, and the saved weights byte for byte

    work.params["seed"] += 1
    work.write_params()
    assert run_stage(work, "pipeline.train")["best_val_loss"] != first[0]["best_val_loss"]
