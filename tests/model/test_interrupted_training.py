"""SIGTERM during training: previous outputs survive, nothing half-written, run marked FAILED."""
import hashlib
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


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


def epochs_logged_by_running_runs(db: Path) -> int:
    """Metric values the RUNNING runs have logged (one set per finished epoch)."""
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM metrics JOIN runs USING (run_uuid) "
                                "WHERE runs.status = 'RUNNING'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_sigterm_mid_training_keeps_previous_outputs_and_fails_the_run(stock_workdir):
    work = stock_workdir
    assert work.stage("pipeline.ingest", "stock").returncode == 0
    assert work.stage("pipeline.train", "stock_rnn").returncode == 0
    before = {p: md5(p) for p in [work.root / "models/stock_rnn/model.pt", work.root / "metrics/train/stock_rnn.json"]}

    # no early stopping: on a fast CPU the stock RNN stopped (patience 30) before the signal came
    work.params["train"]["stock_rnn"].update(epochs=100_000, patience=0)
    work.write_params()
    proc = subprocess.Popen(work.command("pipeline.train", "stock_rnn"), cwd=work.root, env=work.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = work.root / "mlflow.db"
    deadline = time.time() + 120
    while epochs_logged_by_running_runs(db) == 0:  # an epoch ended: the run is inside the epoch loop
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert {p: md5(p) for p in before} == before, "previous outputs must survive"
    assert [p for p in work.root.rglob("*") if p.name.endswith(".tmp")] == []
    assert run_statuses(db) == ["FINISHED", "FAILED"]
