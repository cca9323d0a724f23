"""Shared fixtures: a scratch working directory that runs real stages on tiny stock params."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@dataclass
class StockWorkdir:
    """Stages run as `python -m pipeline.<stage> --params <params>` with cwd = `root`."""

    root: Path
    params_file: Path
    params: dict
    env: dict

    def write_params(self) -> None:
        self.params_file.write_text(yaml.safe_dump(self.params))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", *args, "--params", str(self.params_file)]

    def stage(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def stock_workdir(tmp_path) -> StockWorkdir:
    """Params with only a tiny stock model (1 epoch), the repo's raw CSV, a private MLflow store."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["stock"]["file"] = str(REPO / params["ingest"]["stock"]["file"])
    params["train"] = {"stock_rnn": {**params["train"]["stock_rnn"], "epochs": 1, "batch_size": 256,
                                     "hidden_size": 4, "num_layers": 1, "head_hidden": 8}}
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "CI": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    workdir = StockWorkdir(tmp_path, tmp_path / "params.yaml", params, env)
    workdir.write_params()
    return workdir
