"""Tracking beyond one laptop: a real PostgreSQL-backed `mlflow server` with a file artifact
root; the pipeline trains, evaluates and registers there, and serving loads from it."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.serve import free_ports, start_servers, stop_servers, wait_until_ready

pytestmark = pytest.mark.e2e

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
if not PG_BIN:
    pytest.skip("PostgreSQL server not installed (Debian package `postgresql`; .ci/run installs it)",
                allow_module_level=True)
pytest.importorskip("psycopg2", reason="psycopg2-binary is a dev dependency: run `make env`")
PG = Path(PG_BIN[-1])
if os.geteuid() == 0:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root, and there is no `postgres` user to run the PostgreSQL server as "
                    "(initdb refuses root; the Debian package creates the user)", allow_module_level=True)


def as_db_owner(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: use the Debian package's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_service(cmd: list[str], what: str) -> None:
    """Run one step of starting PostgreSQL; if it fails, the server cannot start here: skip, saying why."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        detail = (done.stderr or done.stdout).strip().splitlines()
        pytest.skip(f"PostgreSQL could not start ({what} exited {done.returncode}: "
                    f"{detail[-1] if detail else 'no output'})")


def wait_for_http(url: str, proc: subprocess.Popen, what: str, seconds: float = 120) -> None:
    """Poll `url` until it answers 200; fail early if the server process exits."""
    import requests

    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, f"{what} exited"
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} not ready in {seconds:.0f} s")


@pytest.fixture(scope="module")
def postgres():
    # not under pytest's tmp dir: that is private to root, and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    (port,) = free_ports(1)
    try:
        start_service(as_db_owner([str(PG / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E",
                                   "UTF8"]), "initdb")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
        start_service(as_db_owner([str(PG / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                                   str(base / "log"), "start"]), "pg_ctl start")
        subprocess.run([str(PG / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(as_db_owner([str(PG / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def tracking_server(postgres, tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", postgres,
         "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc, "mlflow server")
        yield url, artifacts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def local_next_close(root: Path, window: list[list[float]], columns: list[str]) -> float:
    """The next close the stage's own checkpoint gives `window`, through the stock task's serving code."""
    import pandas as pd

    from pipeline.registry import MODELS
    from pipeline.tasks import load_checkpoint
    from pipeline.tasks.stock import serve

    checkpoint = load_checkpoint(root / "models/stock_rnn/model.pt")
    model = MODELS["stock_rnn"].build(checkpoint["meta"]["params"], checkpoint["meta"])
    model.load_state_dict(checkpoint["state_dict"])
    return float(serve(model.eval(), checkpoint["meta"], pd.DataFrame(window, columns=columns))["next_close"][0])


def test_pipeline_logs_registers_and_serves_through_the_server(stock_workdir, tracking_server, tmp_path_factory):
    import requests

    url, artifacts = tracking_server
    work = stock_workdir
    work.env["MLFLOW_TRACKING_URI"] = url
    for stage in (["pipeline.ingest", "stock"], ["pipeline.train", "stock_rnn"], ["pipeline.evaluate", "stock_rnn"],
                  ["pipeline.register"]):
        result = work.stage(*stage)
        assert result.returncode == 0, result.stderr[-2000:]
    assert not (work.root / "mlflow.db").exists(), "nothing may go to the default sqlite store"
    assert any(artifacts.rglob("model.pt")), "artifacts land in the server's artifact root"

    logs = tmp_path_factory.mktemp("model-server")
    servers = start_servers(["stock-rnn"], logs, cwd=work.root, env=work.env)
    try:
        wait_until_ready(servers, logs, timeout=120)
        window = [[100.0 + i, 102.0 + i, 99.0 + i] for i in range(30)]
        response = requests.post(f"{servers['stock-rnn'][1]}/invocations", timeout=30,
                                 json={"dataframe_split": {"columns": ["Open", "High", "Low"], "data": window}})
        assert response.status_code == 200, response.text
        # the model that went through the server is the one the train stage wrote
        expected = local_next_close(work.root, window, ["Open", "High", "Low"])
        assert response.json()["predictions"][0]["next_close"] == pytest.approx(expected, abs=1e-3)
    finally:
        stop_servers(servers)
