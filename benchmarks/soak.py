"""Soak test: a bounded stream of valid and invalid requests to one served model on loopback.

    python benchmarks/soak.py [--model stock-rnn] [--requests 10000] [--clients 4]

Every request has an expected answer: the model's own input example -> 200, malformed
bodies -> 400. Anything else (5xx, a dropped connection, a 200 for garbage) counts as
unexpected. 400 answers that quote the request back are counted apart: MLflow's own
envelope checks (bad JSON, wrong top-level keys) do that before our model sees the
request; the model's checks never do. The server's memory
(RSS of its whole process group) is sampled as the load runs. Writes
benchmarks/results/soak_<model>.json; exits 1 if any answer was unexpected.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish import REPO, RESULTS, publish  # noqa: E402
from serve import run_threads, serving_example  # noqa: E402

from pipeline.serve import resolve_model_uri, start_servers, stop_servers, wait_until_ready  # noqa: E402

TIME_LIMIT_S = 600
MEMORY_SAMPLES = 20


def _first_number_path(tree, path=()):
    """The path of the first number in a JSON tree (e.g. the example's first price)."""
    if isinstance(tree, bool):
        return None
    if isinstance(tree, (int, float)):
        return path
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        found = _first_number_path(value, (*path, key))
        if found is not None:
            return found
    return None


def _with_value(body: dict, path: tuple, value) -> dict:
    changed = copy.deepcopy(body)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def payload_mix(example: dict) -> list[tuple[str, str, set[int]]]:
    """(name, raw body, acceptable status codes): the example, then malformed variants of it."""
    number = _first_number_path(example)
    text = json.dumps(example)
    mix = [
        ("valid", text, {200}),
        ("truncated-json", text[: len(text) // 2], {400}),
        ("empty-object", "{}", {400}),
        ("wrong-top-level-key", json.dumps({"rows": example}), {400}),
        ("text-instead-of-number", json.dumps(_with_value(example, number, "abc")), {400}),
        ("null-instead-of-number", json.dumps(_with_value(example, number, None)), {400}),
        ("huge-number", json.dumps(_with_value(example, number, 1e308)), {200, 400}),
    ]
    assert len({name for name, _, _ in mix}) == len(mix)
    return mix


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the server's process group (gunicorn/uvicorn workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 of /proc/<pid>/stat: process group
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss in pages
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def _message(answer: str) -> str:
    try:
        return str(json.loads(answer).get("message", ""))
    except (ValueError, AttributeError):
        return answer


def soak(url: str, mix: list, total: int, clients: int, pgid: int) -> dict:
    counts = {name: {"sent": 0, "unexpected": 0, "echoed_payload": 0} for name, _, _ in mix}
    examples_of_unexpected: list[str] = []
    memory: list[tuple[int, float]] = []
    sent = 0
    lock = threading.Lock()
    stop_at = time.time() + TIME_LIMIT_S
    headers = {"Content-Type": "application/json"}

    def client(worker: int) -> None:
        nonlocal sent
        session = requests.Session()
        i = worker
        while True:
            with lock:
                if sent >= total or time.time() > stop_at:
                    return
                sent += 1
                n = sent
            name, body, ok_codes = mix[i % len(mix)]
            i += clients
            try:
                response = session.post(url, data=body, headers=headers, timeout=30)
                status, answer = response.status_code, response.text
            except requests.RequestException as exc:
                status, answer = None, type(exc).__name__
            bad = status not in ok_codes
            with lock:
                counts[name]["sent"] += 1
                counts[name]["unexpected"] += bad
                counts[name]["echoed_payload"] += status == 400 and body[:100] in _message(answer)
                if bad and len(examples_of_unexpected) < 5:
                    examples_of_unexpected.append(f"{name}: {status} {answer[:200]}")
                if n % max(1, total // MEMORY_SAMPLES) == 0:
                    memory.append((n, round(group_rss_mb(pgid), 1)))

    wall = run_threads(client, [(w,) for w in range(clients)])
    return {"requests": sum(c["sent"] for c in counts.values()), "seconds": round(wall, 1),
            "unexpected": sum(c["unexpected"] for c in counts.values()), "by_payload": counts,
            "unexpected_examples": examples_of_unexpected, "rss_mb_by_request": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stock-rnn", help="registered name or params key")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    uri, alias = resolve_model_uri(args.model)
    mix = payload_mix(serving_example(uri))
    logs = Path(tempfile.mkdtemp(prefix="soak-"))  # the server's output, kept for a post-mortem
    servers = start_servers([args.model], logs, cwd=REPO)
    proc, base_url = servers[args.model]
    try:
        wait_until_ready(servers, logs)
        url = f"{base_url}/invocations"
        for _, body, _ in mix:  # warm-up: every code path once before the baseline memory reading
            requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        rss_start = group_rss_mb(proc.pid)
        result = soak(url, mix, args.requests, args.clients, proc.pid)
        rss_end = group_rss_mb(proc.pid)
    finally:
        stop_servers(servers)

    report = {
        "model": args.model, "alias": alias, "clients": args.clients,
        "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - rss_start, 1), **result,
    }
    publish(RESULTS, f"soak_{args.model}", report)
    print(f"{args.model}: {report['requests']} requests in {report['seconds']} s, "
          f"{report['unexpected']} unexpected; server RSS {report['rss_mb_start']} -> {report['rss_mb_end']} MB "
          f"({report['rss_growth_mb']:+} MB)")
    for line in report["unexpected_examples"]:
        print("  unexpected:", line)
    print(f"wrote benchmarks/results/soak_{args.model}.json")
    sys.exit(1 if report["unexpected"] else 0)


if __name__ == "__main__":
    main()
