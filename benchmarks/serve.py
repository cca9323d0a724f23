"""Serving benchmark: start the real model server per registered model, send a bounded load
over loopback with 1 and 8 concurrent clients, print and write req/s, p50, p99 and errors.

    python benchmarks/serve.py [--models stock-rnn ...] [--requests 400] [--seconds 3] [--workers 1]

Writes benchmarks/results/serve.{json,md}. Each load ends at its request count or its time limit,
whichever comes first (a slow model is measured on fewer requests; the count is reported);
only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import tracking  # noqa: E402
from pipeline.registry import MODELS  # noqa: E402
from pipeline.serve import resolve_model_uri, start_servers, stop_servers, wait_until_ready  # noqa: E402
from publish import publish  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GOAL = "8 clients: >= 200 req/s, p99 <= 50 ms, 0 errors"


def table(rows: list[dict]) -> str:
    """The serving figures as a markdown table, one row per model and client count."""
    lines = ["| served model | clients | requests | req/s | p50 ms | p99 ms | errors |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['clients']} | {r['requests']} | {r['req_per_s']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['errors']} |" for r in rows]
    return "\n".join(lines)


def serving_example(uri: str) -> dict:
    """The request body MLflow stored with the model (its input example, in serving form)."""
    mlflow = tracking.mlflow()
    local = Path(mlflow.artifacts.download_artifacts(uri))
    return json.loads((local / "serving_input_example.json").read_text())


def run_threads(target, args_per_thread: list[tuple]) -> float:
    """Run `target` once per argument tuple, each in its own thread; returns wall seconds."""
    threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def load(url: str, body: dict, clients: int, total: int, seconds: float) -> dict:
    """`total` requests split over `clients` threads, each with its own connection, for at most
    `seconds`."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def client(n: int) -> None:
        nonlocal errors
        session = requests.Session()
        for _ in range(n):
            if time.time() > stop_at:
                return
            started = time.perf_counter()
            try:
                ok = session.post(url, json=body, timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += not ok

    wall = run_threads(client, [(total // clients,)] * clients)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "clients": clients,
        "requests": len(ms),
        "errors": errors,
        "req_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(ms[len(ms) // 2], 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[s.registered_name for s in MODELS.values()])
    parser.add_argument("--requests", type=int, default=400, help="requests per load level")
    parser.add_argument("--seconds", type=float, default=3, help="time limit per load level")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()

    resolved = {model: resolve_model_uri(model) for model in args.models}  # (uri, alias)
    bodies = {model: serving_example(uri) for model, (uri, _) in resolved.items()}
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-"))  # each server's output, kept for a post-mortem
    servers = start_servers(args.models, logs, cwd=REPO, workers=args.workers)
    results = []
    try:
        wait_until_ready(servers, logs)
        for model in args.models:
            url = f"{servers[model][1]}/invocations"
            load(url, bodies[model], 1, 20, args.seconds)  # warm-up
            for clients in (1, 8):
                row = {"model": model, "alias": resolved[model][1], "workers": args.workers,
                       **load(url, bodies[model], clients, args.requests, args.seconds)}
                results.append(row)
                print(f"{model:<22} clients={clients} {row['req_per_s']:>7} req/s  p50 {row['p50_ms']:>6} ms  "
                      f"p99 {row['p99_ms']:>6} ms  errors {row['errors']}  ({row['requests']} requests)")
    finally:
        stop_servers(servers)
    publish(RESULTS, "serve", {"goal": GOAL, "results": results}, f"Goal: {GOAL}.\n\n{table(results)}", quiet=True)
    print("wrote benchmarks/results/serve.{json,md}")


if __name__ == "__main__":
    main()
