"""The end-to-end project: the real `dvc repro` on tiny params in a temp copy of the repo,
built once per session and shared by test_pipeline.py and test_screenshots.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MNIST_MODELS = ["mnist_dense_ae", "mnist_conv_ae", "mnist_denoising_ae", "mnist_lstm_ae"]
SMALL_MNIST_SPLIT = {"train": 0.03, "val": 0.01}  # 1,800 / 600 of the 60k training images
TINY = {
    ("signals", "n_per_family"): 20,
    ("signals", "n_test_per_family"): 10,
    # a few kinds and noises of each sort: the denoisers' evaluation tunes every classical
    # filter per kind x noise, which the full 14 x 7 grid makes the slowest tiny stage
    ("signals", "families"): ["quadratic", "sine", "square", "gp", "steps"],
    ("signals", "held_out_kinds"): ["bumps"],
    ("signals", "noises"): [{"kind": "gaussian", "sigma": 0.05}, {"kind": "spikes", "rate": 0.02, "level": 1.0},
                            {"kind": "relative", "sigma": 0.1}],
    ("train", "stock_rnn", "epochs"): 3,
    ("train", "stock_rnn", "batch_size"): 256,
    ("train", "stock_rnn", "lr"): 1e-3,
    ("train", "lotto_rnn", "epochs"): 2,
    ("train", "lotto_rnn", "batch_size"): 256,
    ("train", "signal_denoiser_seed", "epochs"): 1,
    ("train", "signal_denoiser", "epochs"): 1,
    ("train", "signal_denoiser", "channels"): 4,
    ("train", "signal_denoiser", "levels"): 2,
    **{("train", m, "epochs"): 1 for m in MNIST_MODELS},
    **{("train", m, "split"): SMALL_MNIST_SPLIT for m in MNIST_MODELS},
}


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _set_param(params: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        params = params[key]
    params[path[-1]] = value


@pytest.fixture(scope="session")
def env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # test the default store
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(CI="true", DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", GIT_AUTHOR_NAME="e2e",
               GIT_AUTHOR_EMAIL="e2e@localhost", GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@localhost")
    return env


@pytest.fixture(scope="session")
def project(tmp_path_factory, env) -> Path:
    """A fresh clone-like copy (tracked + untracked-but-not-ignored files) with tiny params."""
    root = tmp_path_factory.mktemp("e2e") / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(src.read_bytes())
    params = yaml.safe_load((root / "params.yaml").read_text())
    for path, value in TINY.items():
        _set_param(params, path, value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "dvc.lock").unlink(missing_ok=True)
    _run(["git", "init", "-q"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "e2e copy"], root, env)
    _run(["dvc", "repro"], root, env)
    return root
