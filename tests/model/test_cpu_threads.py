"""params.yaml `cpu_threads`: a stage pins every thread pool to the count params ask for, whatever its
environment says, so its results depend on params alone and `python -m pipeline.repro` (stages side
by side, each with its environment) and a plain `dvc repro` agree. Whether two counts give other bits
is the BLAS library's business (how it splits a product), so no test asks for it."""
import os
import subprocess
import sys
from pathlib import Path

from pipeline.cli import THREAD_VARIABLES

REPO = Path(__file__).resolve().parents[2]

# a few gradient steps of a conv net (torch's pool) and an eigendecomposition (numpy's LAPACK pool),
# both of which add in another order on more threads; numpy is loaded before the pin, as in a stage
PROBE = """
import hashlib, sys
import numpy as np
from pipeline.cli import pin_cpu_threads
pin_cpu_threads(int(sys.argv[1]))
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv1d(1, 128, 3), torch.nn.ReLU(), torch.nn.Conv1d(128, 1, 3))
data = torch.Generator().manual_seed(1)
for _ in range(5):
    x, y = torch.randn(64, 1, 150, generator=data), torch.rand(64, 1, 146, generator=data)
    model.zero_grad()
    (model(x) - y).square().mean().backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.01 * p.grad
a = np.random.default_rng(0).standard_normal((2000, 300))
_, vectors = np.linalg.eigh(a.T @ a)
weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
from threadpoolctl import threadpool_info
pools = ",".join(sorted({str(pool["num_threads"]) for pool in threadpool_info()}))
print(hashlib.sha1(weights).hexdigest(), hashlib.sha1(np.abs(vectors).tobytes()).hexdigest(), torch.get_num_threads(),
      pools)
"""


def probe(pinned: int, environment_threads: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **{name: str(environment_threads) for name in THREAD_VARIABLES}}
    done = subprocess.run([sys.executable, "-c", PROBE, str(pinned)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_results_follow_the_pinned_thread_count_not_the_environment():
    for pinned, other in ((1, 2), (2, 1)):
        result = probe(pinned, environment_threads=pinned)
        # torch's pool and every BLAS/OpenMP pool numpy loaded run at the pinned count
        assert result[2:] == [str(pinned), str(pinned)]
        assert probe(pinned, environment_threads=other) == result  # the environment's count is overridden


def test_leave_kind_out_figures_do_not_depend_on_how_many_kinds_train_at_once(raw, tmp_path):
    """The benchmark trains its kinds in processes pinned to `cpu_threads`: one at a time and two
    at once give the same figures, in the order of the kinds asked for."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.path.insert(0, str(REPO / "benchmarks" / "denoiser"))
    from leave_kind_out import score_all
    from train_on_device import with_overrides

    params = with_overrides(raw, [("signals.n_per_family", 20), ("signals.n_test_per_family", 4),
                                  ("train.signal_denoiser.channels", 4), ("train.signal_denoiser.epochs", 1),
                                  ("train.signal_denoiser.refine_epochs", 0)])
    kinds = ["steps", "sine"]
    one, two = (score_all(kinds, params, 1, jobs, tmp_path / str(jobs)) for jobs in (1, 2))
    for result in (one, two):
        for figures in result.values():
            figures.pop("train_seconds")
    assert list(two) == kinds and two == one
