"""evaluate logs into the run train logged to; a store without that run is reported, not crashed on."""


def test_evaluate_against_a_store_without_the_training_run(stock_workdir):
    work = stock_workdir
    assert work.stage("pipeline.ingest", "stock").returncode == 0
    assert work.stage("pipeline.train", "stock_rnn").returncode == 0
    work.env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work.root / 'other.db'}"  # e.g. a switched tracking URI
    result = work.stage("pipeline.evaluate", "stock_rnn")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "models/stock_rnn/mlflow_run.json: run " in result.stderr
    assert "is not in the tracking store" in result.stderr and "dvc repro -f train@stock_rnn" in result.stderr
    assert not (work.root / "metrics/eval/stock_rnn.json").exists()  # nothing written before the check
