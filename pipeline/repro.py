"""`python -m pipeline.repro`: `dvc repro` with independent stages side by side (what `make repro` runs).

DVC runs one stage at a time, but lets go of its repository lock while a stage's command runs, so
separate `dvc repro` processes can build stages that share no outputs. Each model's stages form a
chain: `evaluate@<model>` and what only it needs upstream (`train@<model>`, its own data). This runs

1. the stages two or more changed chains need (shared data), in one `dvc repro`, and the MLflow
   store's tables (two processes creating them at once fail);
2. the chains `dvc status` finds changed, `--jobs` at a time, each as one
   `dvc --wait-for-lock repro --single-item <its stages>`, the longest first (by its last train
   time in metrics/train/), every output line prefixed with the model;
3. a plain `dvc repro` for the rest (register, summary): it finds the chains up to date.

The outputs and dvc.lock are those of a plain `dvc repro`: every stage pins itself to params.yaml's
`cpu_threads`, whichever process starts it. Jobs default to the usable cores // cpu_threads.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import paths, tracking
from .cli import main_wrapper
from .config import load_params
from .errors import PipelineError


def pipeline_state(root: Path) -> tuple[dict[str, set[str]], set[str]]:
    """The DVC pipeline at `root`: every stage -> the stages it depends on directly; and the stages
    `dvc status` finds changed."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        return ({stage.addressing: {dep.addressing for dep in graph.successors(stage)} for stage in graph.nodes},
                set(repo.status()))


def upstream(graph: dict[str, set[str]], stage: str) -> list[str]:
    """`stage` and every stage it depends on, directly or not, each after its dependencies."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in ordered:
            for dependency in sorted(graph[name]):
                visit(dependency)
            ordered.append(name)

    visit(stage)
    return ordered


def chain_heads(graph: dict[str, set[str]], models: list[str]) -> dict[str, str]:
    """Each model's last stage, `evaluate@<model>` (dvc.yaml's foreach over params.yaml `train:`)."""
    heads = {model: f"evaluate@{model}" for model in models}
    missing = [head for head in heads.values() if head not in graph]
    if missing:
        raise PipelineError(f"dvc.yaml has no stage {', '.join(missing)} (one per params.yaml `train:` key)")
    return heads


def shared_stages(chains: list[list[str]]) -> list[str]:
    """The stages two or more chains (each a list of stage names) need: built first, so that no two
    chains run one at once."""
    counts: dict[str, int] = {}
    for chain in chains:
        for name in chain:
            counts[name] = counts.get(name, 0) + 1
    return sorted(name for name, count in counts.items() if count > 1)


def longest_first(models: list[str], seconds: dict[str, float]) -> list[str]:
    """Models with a recorded train time, longest first, after those without one (in their order):
    the longest chains start early, so that none is left running alone at the end."""
    return sorted(models, key=lambda model: -seconds.get(model, float("inf")))


def recorded_train_seconds(models: list[str]) -> dict[str, float]:
    """Each model's train time from its last train metrics, where there are some."""
    seconds = {}
    for model in models:
        try:
            seconds[model] = float(json.loads(paths.train_metrics(model).read_text())["train_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return seconds


def default_jobs(cpu_threads: int) -> int:
    return max(1, len(os.sched_getaffinity(0)) // cpu_threads)


class LinePrinter:
    """Lines from several processes, one whole line at a time."""

    def __init__(self):
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
            sys.stdout.flush()


def run_prefixed(cmd: list[str], prefix: str, printer: LinePrinter) -> int:
    """Run `cmd`, echo its output with `prefix` on every line; its exit status."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        for line in process.stdout:
            printer(f"{prefix}{line}")
    return process.returncode


def run_chains(chains: dict[str, list[str]], jobs: int, printer: LinePrinter) -> dict[str, float]:
    """Each model's chain of stages (in order) as one `dvc repro --single-item`, `jobs` chains at a
    time, in the mapping's order; each chain's seconds. After a chain fails, no new one starts; the
    running ones finish, then PipelineError names the failures."""
    failed: list[str] = []
    seconds: dict[str, float] = {}

    def chain(model: str) -> None:
        if failed:
            return
        started = time.perf_counter()
        # --single-item: DVC would otherwise visit the shared upstream stages too, locking their
        # outputs for writing while another chain's stage reads them
        status = run_prefixed(["dvc", "--wait-for-lock", "repro", "--single-item", *chains[model]], f"[{model}] ",
                              printer)
        seconds[model] = time.perf_counter() - started
        if status:
            failed.append(model)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(chain, chains))
    if failed:
        raise PipelineError(f"the stages of {', '.join(failed)} failed (their lines above, prefixed with the model)")
    return seconds


def _dvc(args: list[str]) -> None:
    if subprocess.run(["dvc", *args]).returncode:
        raise PipelineError(f"`dvc {' '.join(args)}` failed (its output above)")


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    # no --params: DVC's stages read params.yaml (`dvc exp run -S` overrides it)
    parser = argparse.ArgumentParser(prog="python -m pipeline.repro", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--jobs", type=int, help="chains at once (default: usable cores // cpu_threads)")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs: must be at least 1")
    params = load_params()
    jobs = args.jobs or default_jobs(params["cpu_threads"])
    started = time.perf_counter()
    graph, changed = pipeline_state(Path.cwd())
    needs = {model: upstream(graph, head) for model, head in chain_heads(graph, list(params["train"])).items()}
    models = [model for model, stages in needs.items() if changed.intersection(stages)]
    summary = "no model chain changed"
    if models:
        shared = shared_stages([needs[model] for model in models])
        if shared:
            _dvc(["repro", *shared])
        tracking.open_store()
        order = longest_first(models, recorded_train_seconds(models))
        print(f"repro: {len(order)} model chains, {jobs} at a time: {', '.join(order)}", flush=True)
        chains = {model: [stage for stage in needs[model] if stage not in shared] for model in order}
        seconds = run_chains(chains, jobs, LinePrinter())
        summary = ", ".join(f"{model} {seconds[model]:.0f} s" for model in order)
    _dvc(["repro"])
    print(f"repro: {summary}; {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
