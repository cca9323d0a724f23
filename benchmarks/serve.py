"""Serving benchmark: each registered model beside an identity pyfunc (the ceiling: what MLflow's own
server costs), both served by `mlflow models serve` on this machine with the same request bodies, in
the same run; model / identity is the figure to read (raw req/s move with the machine).

    python benchmarks/serve.py [--models stock-rnn ...] [--seconds 3] [--workers 1 2] [--worker-models ...]

Per model and worker count: a one-item request (one window, one draw history, one image, one signal)
at 1 and 8 concurrent clients, and, where a request holds a batch (images, signals), samples/s at
batch 1, 32 and 256 from one client. Writes benchmarks/results/serve.{json,md}. Each load runs for
`--seconds` (or its request cap); only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import tracking  # noqa: E402
from pipeline.cli import SERVE_THREADS_ENV  # noqa: E402
from pipeline.registry import MODELS  # noqa: E402
from pipeline.serve import (TORCH_THREADS_PER_WORKER, free_ports, resolve_model_uri, serve_command,  # noqa: E402
                            start_servers, stop_servers, wait_until_ready)
from publish import publish  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GOAL = ("1 worker, 1 client, one-item request: every model >= 0.7x the identity's req/s, the signal denoiser "
        ">= 0.5x (about 6 ms p50); the signal denoiser >= 5,000 signals/s at batch 256")
BATCHES = (1, 32, 256)
BATCHED = {"mnist": "images", "signals": "signals"}  # datasets whose requests hold a batch of items


def identity_model(path: Path) -> Path:
    """An MLflow pyfunc that answers with its input, saved at `path`: the server's own cost, no model."""
    import mlflow.pyfunc

    class Identity(mlflow.pyfunc.PythonModel):
        _skip_type_hint_validation = True

        def predict(self, context, model_input, params=None):
            return model_input

    mlflow.pyfunc.save_model(str(path), python_model=Identity(),
                             pip_requirements=[f"mlflow=={mlflow.__version__}"])
    return path


def serving_example(uri: str) -> dict:
    """The request body MLflow stored with the model (its input example, in serving form)."""
    mlflow = tracking.mlflow()
    local = Path(mlflow.artifacts.download_artifacts(uri))
    return json.loads((local / "serving_input_example.json").read_text())


def batch_body(example: dict, size: int) -> dict:
    """The example's items (rows of `inputs`) repeated or cut to `size`."""
    items = example["inputs"]
    return {"inputs": [items[i % len(items)] for i in range(size)]}


def run_threads(target, args_per_thread: list[tuple]) -> float:
    """Run `target` once per argument tuple, each in its own thread; returns wall seconds."""
    threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def load(url: str, body: dict, clients: int, seconds: float, cap: int = 2000) -> dict:
    """Requests from `clients` threads, each with its own connection, for `seconds` (at most `cap`)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.time() + seconds
    data = json.dumps(body)

    def client(n: int) -> None:
        nonlocal errors
        session = requests.Session()
        for _ in range(n):
            if time.time() > stop_at:
                return
            started = time.perf_counter()
            try:
                ok = session.post(url, data=data, headers={"Content-Type": "application/json"},
                                  timeout=60).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok

    wall = run_threads(client, [(cap // clients,)] * clients)
    ms = sorted(x * 1000 for x in latencies)
    return {"requests": len(ms), "errors": errors, "req_per_s": round(len(ms) / wall, 1),
            "p50_ms": round(ms[len(ms) // 2], 2), "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)}


def side_by_side(model_url: str, identity_url: str, body: dict, clients: int, seconds: float) -> dict:
    """The model's load, then the identity's with the same body (one after the other: they share the cores)."""
    model = load(model_url, body, clients, seconds)
    ceiling = load(identity_url, body, clients, seconds)
    return {**model, "identity_req_per_s": ceiling["req_per_s"], "identity_p50_ms": ceiling["p50_ms"],
            "vs_identity": round(model["req_per_s"] / ceiling["req_per_s"], 2)}


def measure(model: str, dataset: str, urls: tuple[str, str], example: dict, seconds: float) -> list[dict]:
    model_url, identity_url = (f"{u}/invocations" for u in urls)
    one = batch_body(example, 1) if dataset in BATCHED else example
    for url in (model_url, identity_url):  # warm-up
        load(url, one, 1, 1.0, cap=20)
    rows = [{"clients": clients, "batch": 1, **side_by_side(model_url, identity_url, one, clients, seconds)}
            for clients in (1, 8)]
    if dataset in BATCHED:
        for size in BATCHES[1:]:
            rows.append({"clients": 1, "batch": size,
                         **side_by_side(model_url, identity_url, batch_body(example, size), 1, seconds)})
    for row in rows:
        row["samples_per_s"] = round(row["req_per_s"] * row["batch"], 1)
    return [{"model": model, **row} for row in rows]


def start_identity(path: Path, logs: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_ports(1)[0]
    env = {**os.environ, SERVE_THREADS_ENV: str(TORCH_THREADS_PER_WORKER)}
    with open(logs / "identity.log", "w") as log:
        proc = subprocess.Popen(serve_command(str(path), "127.0.0.1", port, workers), cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def table(rows: list[dict]) -> str:
    """The serving figures as a markdown table, one row per model, workers, clients and batch."""
    lines = ["| served model | workers | clients | batch | req/s | samples/s | p50 ms | p99 ms | identity req/s | "
             "identity p50 ms | model / identity | errors |", "| --- " * 12 + "|"]
    lines += [f"| {r['model']} | {r['workers']} | {r['clients']} | {r['batch']} | {r['req_per_s']} | "
              f"{r['samples_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['identity_req_per_s']} | "
              f"{r['identity_p50_ms']} | {r['vs_identity']} | {r['errors']} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[s.registered_name for s in MODELS.values()])
    parser.add_argument("--seconds", type=float, default=3, help="time per load level")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server worker processes (each measured)")
    parser.add_argument("--worker-models", nargs="*", default=["stock-rnn", "signal-denoiser"],
                        help="the models measured at worker counts above 1 (every model is measured at 1)")
    args = parser.parse_args()

    datasets = {s.registered_name: s.dataset for s in MODELS.values()}
    resolved = {model: resolve_model_uri(model) for model in args.models}  # (uri, alias)
    examples = {model: serving_example(uri) for model, (uri, _) in resolved.items()}
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-"))  # each server's output, kept for a post-mortem
    identity = identity_model(logs / "identity")
    results = []
    for workers in args.workers:
        for model in args.models if workers == 1 else [m for m in args.models if m in args.worker_models]:
            # one model server at a time beside the identity: they share the cores
            servers = start_servers([model], logs, cwd=REPO, workers=workers)
            servers["identity"] = start_identity(identity, logs, workers)
            try:
                wait_until_ready(servers, logs)
                urls = (servers[model][1], servers["identity"][1])
                for row in measure(model, datasets[model], urls, examples[model], args.seconds):
                    row = {"alias": resolved[model][1], "workers": workers, **row}
                    results.append(row)
                    print(f"{model:<24} workers={workers} clients={row['clients']} batch={row['batch']:<4} "
                          f"{row['req_per_s']:>7} req/s ({row['samples_per_s']} samples/s)  p50 {row['p50_ms']} ms  "
                          f"identity {row['identity_req_per_s']} req/s  ratio {row['vs_identity']}  "
                          f"errors {row['errors']}", flush=True)
            finally:
                stop_servers(servers)
    publish(RESULTS, "serve", {"goal": GOAL, "results": results}, f"Goal: {GOAL}.\n\n{table(results)}", quiet=True)
    print("wrote benchmarks/results/serve.{json,md}")


if __name__ == "__main__":
    main()
