"""Serving benchmark: start the real model server per registered model, send a bounded load
over loopback with 1 and 8 concurrent clients, print and write req/s, p50, p99 and errors.

    python benchmarks/serve.py [--models stock-rnn ...] [--requests 400] [--workers 1]

Writes benchmarks/results/serve.json. Each load is bounded by a request count and a time
limit; only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import tracking  # noqa: E402
from pipeline.models import MODELS  # noqa: E402
from pipeline.serve import resolve_model_uri  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "serve.json"
TIME_LIMIT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving_example(uri: str) -> dict:
    """The request body MLflow stored with the model (its input example, in serving form)."""
    mlflow = tracking.mlflow()
    local = Path(mlflow.artifacts.download_artifacts(uri))
    return json.loads((local / "serving_input_example.json").read_text())


def start_server(model: str, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serve", model, "--port", str(port), "--workers", str(workers)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {model} exited with {proc.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"server for {model} not ready in 120 s")


def run_threads(target, args_per_thread: list[tuple]) -> float:
    """Run `target` once per argument tuple, each in its own thread; returns wall seconds."""
    threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def load(url: str, body: dict, clients: int, total: int) -> dict:
    """`total` requests split over `clients` threads, each with its own connection."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.time() + TIME_LIMIT_S

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
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()

    results = []
    for model in args.models:
        uri, alias = resolve_model_uri(model)
        body = serving_example(uri)
        port = free_port()
        proc = start_server(model, port, args.workers)
        try:
            url = f"http://127.0.0.1:{port}/invocations"
            load(url, body, 1, 20)  # warm-up
            for clients in (1, 8):
                row = {"model": model, "alias": alias, "workers": args.workers, **load(url, body, clients, args.requests)}
                results.append(row)
                print(f"{model:<22} clients={clients} {row['req_per_s']:>7} req/s  p50 {row['p50_ms']:>6} ms  "
                      f"p99 {row['p99_ms']:>6} ms  errors {row['errors']}")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "date": time.strftime("%Y-%m-%d"),
        "goal": "8 clients: >= 200 req/s, p99 <= 50 ms, 0 errors",
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
