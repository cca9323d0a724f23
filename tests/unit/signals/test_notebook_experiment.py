"""The notebook experiment benchmark: its overrides are params.yaml's documented command, give the
notebook's setup through DVC's own override code, and a tiny run publishes what its schema lists."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "denoiser"))
from notebook_experiment import (  # noqa: E402
    MODEL, bce_floor, dvc_command, markdown, notebook_params, overrides, score, sizes)
from publish import publish, schema_problem  # noqa: E402

from pipeline.config import model_params  # noqa: E402


def test_params_yaml_documents_the_same_command():
    """The comment above `signals:` is the command the script runs, override for override."""
    lines = (REPO / "params.yaml").read_text().splitlines()
    block = lines[lines.index("signals:") + 1:]
    block = block[:next(i for i, line in enumerate(block) if not line.strip().startswith("#"))]
    comment = " ".join(line.strip().lstrip("#").strip() for line in block)
    documented = re.findall(r"-S '([^']+)'|-S (\S+)", comment)
    assert [a or b for a, b in documented] == overrides(100_000)
    assert f"dvc exp run evaluate@{MODEL}" in comment


def test_the_overrides_give_the_notebooks_setup(tmp_path):
    assert sizes(100_000) == (70_000, 30_000) and sizes(1_001) == (700, 301)  # the notebook's floor
    params = notebook_params(REPO / "params.yaml", 100_000, tmp_path)
    signals = params["signals"]
    assert (signals["n_per_family"], signals["n_test_per_family"]) == (70_000, 30_000)
    assert signals["families"] == ["quadratic"] and signals["held_out_kinds"] == []
    assert signals["noises"] == [{"kind": "gaussian", "sigma": 0.05}]
    block = model_params(params, MODEL)
    assert block["split"] == {"train": 0.8, "val": 0.2} and block["targets"] == "pure_own_range"
    assert (block["epochs"], block["batch_size"]) == (5, 150)
    assert "signals.n_per_family=70000" in dvc_command()


def test_bce_floor_is_the_targets_entropy():
    assert bce_floor(np.array([0.0, 1.0])) == pytest.approx(0.0, abs=1e-9)
    assert bce_floor(np.array([0.5])) == pytest.approx(np.log(2))


def test_a_tiny_run_publishes_its_schema(tmp_path, monkeypatch):
    monkeypatch.setattr("notebook_experiment.NOTEBOOK_BLOCK", {"targets": "pure_own_range"})  # 1 epoch, not 5
    monkeypatch.setattr("pipeline.cli.pin_cpu_threads", lambda count: None)  # leave this process's threads be
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"][MODEL]["epochs"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = score(tmp_path / "params.yaml", 200)
    assert result["split"] == {"train": 112, "val": 28, "test": 60}
    assert len(result["validation"]["bce_per_epoch"]) == 1
    assert result["validation"]["final_bce"] >= result["validation"]["bce_floor"]
    assert result["test"]["group"] == "quadratic/gaussian_sigma0.05" and result["test"]["ls_bound"] > 10
    assert schema_problem("notebook_experiment", result) is None
    publish(tmp_path, "notebook_experiment", result, markdown(result), quiet=True)
    written = json.loads((tmp_path / "notebook_experiment.json").read_text())
    assert written["n_signals"] == 200 and "provenance" in written
    assert "not the notebook's 100,000" in (tmp_path / "notebook_experiment.md").read_text()
