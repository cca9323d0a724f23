"""Two `register` stages at once (parallel `dvc exp run`s) must not corrupt the registry:
one version per checkpoint, the alias on it, and the same answer in both reports."""
import json
import sqlite3
import subprocess

import pytest

pytestmark = pytest.mark.e2e


def test_two_register_runs_at_once_make_one_version_with_one_alias(stock_workdir):
    work = stock_workdir
    for stage, arg in (("pipeline.ingest", "stock"), ("pipeline.train", "stock_rnn"), ("pipeline.evaluate", "stock_rnn")):
        result = work.stage(stage, arg)
        assert result.returncode == 0, result.stderr

    # two copies of the workdir register the same checkpoint into the same store
    reports = []
    procs = []
    for copy in ("a", "b"):
        root = work.root / copy
        root.mkdir()
        for d in ("data", "models", "metrics"):
            subprocess.run(["cp", "-r", str(work.root / d), str(root / d)], check=True)
        reports.append(root / "reports/registry.json")
        procs.append(subprocess.Popen(work.command("pipeline.register"), cwd=root, env=work.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr

    entries = [json.loads(r.read_text())["stock_rnn"] for r in reports]
    assert entries[0]["version"] == entries[1]["version"] == 1
    assert sorted(e["new"] for e in entries) == [False, True]  # one registered it, the other found it
    # the one that found it reports the gate's reason too, not just that it was there
    assert entries[0]["reason"] == entries[1]["reason"] and entries[0]["reason"].startswith("gate ")
    with sqlite3.connect(work.root / "mlflow.db") as db:
        versions = db.execute("SELECT version FROM model_versions WHERE name = 'stock-rnn'").fetchall()
        aliases = db.execute("SELECT alias, version FROM registered_model_aliases").fetchall()
    assert versions == [(1,)]
    assert aliases == [(entries[0]["aliases"][0], 1)] and entries[0]["aliases"] == entries[1]["aliases"]
