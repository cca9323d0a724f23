"""Shared fixtures: a scratch working directory that runs real stages on tiny stock params, and the
end-to-end project: the real `dvc repro` on tiny params in a temp copy of the repo, built once per
session in the background while the tests that do not need it run (those that do run last); and
the process-wide state every test and every test module leaves as it found it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# handlers a stage's entry point (pipeline.cli.main_wrapper) installs when a test calls it in-process
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def process_state_kept() -> Iterator[None]:
    """Undo, on the way out, what code run in this process changed for every later test: the working
    directory, os.environ, the SIGINT/SIGTERM handlers, torch's thread count and the BLAS/OpenMP
    pools' limits (pipeline.cli.pin_cpu_threads sets both). torch and threadpoolctl are only
    consulted when already imported (collecting a test module that uses torch imports it): without
    a count from before, there is none to go back to."""
    cwd = os.getcwd()
    environ = dict(os.environ)
    handlers = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch else None
    threadpoolctl = sys.modules.get("threadpoolctl")
    pools = threadpoolctl.threadpool_limits(limits=None) if threadpoolctl else None  # records, changes nothing
    try:
        yield
    finally:
        os.chdir(cwd)
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update({name: value for name, value in environ.items() if os.environ.get(name) != value})
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if pools is not None:
            pools.restore_original_limits()
        if torch is not None:
            torch.set_num_threads(torch_threads)


@pytest.fixture(autouse=True)
def _keep_process_state() -> Iterator[None]:
    with process_state_kept():
        yield


@pytest.fixture(scope="module", autouse=True)
def _keep_process_state_per_module() -> Iterator[None]:
    """Module-scoped fixtures (set up before, torn down after, every test of their module) are
    undone at the module's end: autouse makes this the first fixture of its scope to be set up."""
    with process_state_kept():
        yield


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch at `count` threads inside the block, at its previous count after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for one test: tiny tensors gain nothing from a second thread and lose a
    lot to it on a busy machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_per_module() -> Iterator[None]:
    """As `one_thread`, for a whole module and its module-scoped fixtures (request it from them)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def raw():
    """The repo's params.yaml as parsed YAML, before validation (tests copy it before changing it)."""
    return yaml.safe_load((REPO / "params.yaml").read_text())


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


MNIST_MODELS = ["mnist_dense_ae", "mnist_conv_ae", "mnist_denoising_ae", "mnist_lstm_ae",
                *(f"mnist_{kind}_ae_seed" for kind in ("dense", "conv", "denoising", "lstm"))]
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
    ("train", "signal_denoiser", "epochs"): 2,
    ("train", "signal_denoiser", "refine_epochs"): 1,  # one epoch of each phase
    ("train", "signal_denoiser", "channels"): 4,
    ("train", "signal_denoiser", "levels"): 2,
    **{("train", m, "epochs"): 1 for m in MNIST_MODELS},
    ("datasets", "mnist", "split"): SMALL_MNIST_SPLIT,
}


def _needs_project(item: pytest.Item) -> bool:
    return "project" in item.fixturenames


def _order(item: pytest.Item) -> tuple:
    """The e2e project's tests last and in the order they are written (file, then line): they share one
    built project, and some change it (a second `register`, a param edit), so a random order (pytest-
    randomly shuffles first) could let a later test's change reach an earlier one's assertions. Every
    other test keeps the order it has (random, or the files' order), the sort being stable."""
    if not _needs_project(item):
        return (False, "", 0, "")
    path, line, _ = item.location
    return (True, path, line or 0, item.nodeid)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_order)


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


@pytest.fixture(scope="session", autouse=True)
def _project_build(request, tmp_path_factory, env):
    """(root, process, log) of the e2e project's build, started at the first test when a selected test needs it."""
    if not any(map(_needs_project, request.session.items)):
        yield None
        return
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
    log = root.parent / "build.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["sh", "-c", "git init -q && git add -A && git commit -qm 'e2e copy' && python -m pipeline.repro"],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield root, proc, log
    finally:
        if proc.poll() is None:  # the session ended before a test waited for it
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


@pytest.fixture(scope="session")
def project(_project_build) -> Path:
    """A fresh clone-like copy (tracked + untracked-but-not-ignored files) with tiny params, committed
    to a new git repo and reproduced with `make repro`'s `python -m pipeline.repro` (stages side by side)."""
    root, proc, log = _project_build
    assert proc.wait(timeout=1800) == 0, f"building the e2e project failed:\n{log.read_text()[-6000:]}"
    return root
