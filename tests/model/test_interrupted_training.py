"""SIGTERM during training: previous outputs survive, nothing half-written, run marked FAILED."""
import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return [row[0] for row in conn.execute("SELECT status FROM runs ORDER BY start_time")]
    except sqlite3.OperationalError:  # tables not created yet
        return []


def test_sigterm_mid_training_keeps_previous_outputs_and_fails_the_run(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["stock"]["file"] = str(REPO / params["ingest"]["stock"]["file"])
    params["train"] = {"stock_rnn": {**params["train"]["stock_rnn"], "epochs": 1, "batch_size": 256,
                                     "hidden_size": 4, "num_layers": 1, "head_hidden": 8}}
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    db = tmp_path / "mlflow.db"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{db}", "CI": "true"}

    def stage(*args, **kwargs):
        return subprocess.run([sys.executable, "-m", *args, "--params", str(params_file)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, **kwargs)

    assert stage("pipeline.ingest", "stock").returncode == 0
    assert stage("pipeline.train", "stock_rnn").returncode == 0
    checkpoint = tmp_path / "models/stock_rnn/model.pt"
    before = {p: md5(p) for p in [checkpoint, tmp_path / "metrics/train/stock_rnn.json"]}

    params["train"]["stock_rnn"]["epochs"] = 100_000
    params_file.write_text(yaml.safe_dump(params))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.train", "stock_rnn", "--params", str(params_file)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while run_statuses(db).count("RUNNING") == 0:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(2)  # inside the epoch loop
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert {p: md5(p) for p in before} == before, "previous outputs must survive"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert run_statuses(db) == ["FINISHED", "FAILED"]
