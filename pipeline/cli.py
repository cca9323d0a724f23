"""Shared entry-point behaviour for every `python -m pipeline.<stage>` command."""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

from .errors import PipelineError

_writes_open = 0  # tracking_write blocks the process is inside
_deferred_signals: list[int] = []  # SIGTERM / SIGINT that came during one, to act on when it ends


def _stop(signum: int) -> NoReturn:
    # Both unwind `with` blocks: temp files are removed and MLflow marks the run FAILED. SIGINT
    # (Ctrl-C) stays a KeyboardInterrupt, as Python's own handler raises it.
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _on_signal(signum, frame):
    if _writes_open:
        _deferred_signals.append(signum)
        return
    _stop(signum)


@contextmanager
def tracking_write() -> Iterator[None]:
    """A block SIGTERM and Ctrl-C do not cut: they take effect when it ends. An MLflow write cut
    halfway leaves its sqlite transaction open, so the store stays locked and the run cannot then be
    marked FAILED (seen once in CI: SIGTERM came inside a per-epoch log_metrics)."""
    global _writes_open
    _writes_open += 1
    try:
        yield
    finally:
        _writes_open -= 1
        if not _writes_open and _deferred_signals:
            _stop(_deferred_signals.pop())


def main_wrapper(main: Callable[[list[str] | None], None]) -> Callable[[list[str] | None], None]:
    """Run `main`; expected failures print one line `error: ...` and exit 2, no traceback."""

    def entry(argv: list[str] | None = None) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        signal.signal(signal.SIGTERM, _on_signal)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where the parent ignores Ctrl-C
            signal.signal(signal.SIGINT, _on_signal)
        try:
            main(argv)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        # Every output is written and closed by now. Freezing the objects lets the interpreter
        # skip its final garbage collection of torch's and mlflow's object graph, which took
        # 1-2.5 s of every stage's exit (measured); atexit handlers still run.
        gc.freeze()

    return entry


# the thread counts the BLAS/OpenMP libraries read from the environment when they load
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# the torch threads of each model-server worker: `python -m pipeline.serve` sets it (unless the caller
# has), the served pyfunc applies it once at load (pipeline.serving)
SERVE_THREADS_ENV = "PIPELINE_TORCH_THREADS"


def pin_cpu_threads(count: int) -> None:
    """Every CPU thread pool of this process to `count` threads (params.yaml `cpu_threads`): torch's,
    and the BLAS/OpenMP pools numpy and scipy load, those loaded already and those loaded later.
    Results depend on the count, since reductions split across threads add in another order, and a
    stage must not take more cores than `python -m pipeline.repro` leaves it (two processes of two
    spinning OpenMP threads on two cores ran a denoiser step 30x slower)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(count)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(count)
    threadpool_limits(count)


def stage_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of `python -m <module>`, with the --params option every stage takes."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.strip().splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    return parser
