"""Serve a registered model over HTTP on 127.0.0.1 with `mlflow models serve`.

Serves the `champion` version; when no version has passed the quality gate yet, serves
`candidate` and says so.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .cli import SERVE_THREADS_ENV, main_wrapper
from .errors import PipelineError
from .registry import MODELS
from .register import CANDIDATE, CHAMPION, alias_version


def resolve_registered_name(model: str) -> str:
    for spec in MODELS.values():
        if model in (spec.name, spec.registered_name):
            return spec.registered_name
    names = ", ".join(spec.registered_name for spec in MODELS.values())
    raise PipelineError(f"unknown model {model!r}; registered models: {names}")


def resolve_model_uri(model: str) -> tuple[str, str]:
    """`models:/<name>@champion`, or `@candidate` when there is no champion yet."""
    from . import tracking

    name = resolve_registered_name(model)
    client = tracking.mlflow().MlflowClient()
    for alias in (CHAMPION, CANDIDATE):
        if alias_version(client, name, alias) is not None:
            return f"models:/{name}@{alias}", alias
    raise PipelineError(f"{name} has no registered version in {tracking.display_uri(tracking.tracking_uri())}; run `make repro` first")


def candidate_warning(uri: str, doing: str) -> str:
    """What `serve` and `predict` say when they fall back to the candidate (`doing`: "serving")."""
    return (f"warning: no version of {uri.split('@')[0]} passed its quality gate; {doing} the candidate "
            "(see the version's gate_reason tag in the MLflow UI)")


# Torch threads per server worker, unless PIPELINE_TORCH_THREADS says otherwise. One: a request is
# small work in many short steps, where a second thread only adds hand-offs (a one-signal denoiser
# request ran about twice as fast on one thread as on two), and a worker's thread pool already runs
# concurrent requests side by side; more workers (--workers) are what use more cores (docs/serving.md).
TORCH_THREADS_PER_WORKER = 1


def serve_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    return ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
            "--host", host, "--port", str(port), "--workers", str(workers)]


# --- several servers at once, for the serving benchmark and the end-to-end tests ------------

def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (each socket stays bound until all are chosen)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_servers(models: list[str], log_dir: Path, cwd: Path | None = None, env: dict | None = None,
                  workers: int = 1) -> dict[str, tuple[subprocess.Popen, str]]:
    """`python -m pipeline.serve` for every model at once (their imports overlap), each on its own
    loopback port, output to log_dir/<model>.log (files, not pipes: a full pipe would stall a
    server); {model: (process, base URL)}, without waiting for them: see wait_until_ready."""
    started = {}
    for model, port in zip(models, free_ports(len(models))):
        with open(Path(log_dir) / f"{model}.log", "w") as log:
            started[model] = subprocess.Popen(
                [sys.executable, "-m", "pipeline.serve", model, "--port", str(port), "--workers", str(workers)],
                cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ), f"http://127.0.0.1:{port}"
    return started


def wait_until_ready(started: dict[str, tuple[subprocess.Popen, str]], log_dir: Path, timeout: float = 300) -> None:
    """Returns when every server answers /ping; PipelineError for one that exits (with its log's
    tail) or for those still silent after `timeout` seconds."""
    import requests

    waiting, deadline = dict(started), time.time() + timeout
    while waiting:
        if time.time() > deadline:
            raise PipelineError(f"model servers for {', '.join(sorted(waiting))} did not answer /ping within "
                                f"{timeout:g} s")
        for model, (proc, url) in list(waiting.items()):
            if proc.poll() is not None:
                log = (Path(log_dir) / f"{model}.log").read_text()[-3000:]
                raise PipelineError(f"model server for {model} exited with {proc.returncode}:\n{log}")
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                    del waiting[model]
            except (requests.ConnectionError, requests.Timeout):
                pass
        time.sleep(0.5)


def stop_servers(started: dict[str, tuple[subprocess.Popen, str]]) -> None:
    for proc, _ in started.values():
        with contextlib.suppress(ProcessLookupError):  # a server that died took its group with it
            os.killpg(proc.pid, signal.SIGTERM)
    for proc, _ in started.values():
        proc.wait(timeout=30)


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registered name (stock-rnn) or params key (stock_rnn)")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--host", default="127.0.0.1", help="default %(default)s: loopback only")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    uri, alias = resolve_model_uri(args.model)
    if alias != CHAMPION:
        print(candidate_warning(uri, "serving"), file=sys.stderr)
    command = serve_command(uri, args.host, args.port, args.workers)
    print(f"serving {uri} on http://{args.host}:{args.port}/invocations", file=sys.stderr)
    sys.stdout.flush()
    # `mlflow` and the server processes it starts come from this interpreter's environment, also
    # when that environment's bin is not on PATH (`.venv/bin/python -m pipeline.serve ...`)
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    os.environ.setdefault(SERVE_THREADS_ENV, str(TORCH_THREADS_PER_WORKER))  # one the caller sets wins
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
