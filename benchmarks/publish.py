"""How every benchmark publishes its figures (with the commit they measured, checked against the
SCHEMAS table by tests/unit/test_bench_results.py), and what the benchmarks that score the trained
signal denoiser share: how they load it, how they draw fresh signals, their command line."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipeline.io import write_text  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DENOISER = "signal_denoiser"


@dataclass(frozen=True)
class Schema:
    """The top-level keys a results file holds (besides its provenance), and the script that writes it."""

    script: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


def _schema(script: str, *required: str, optional: tuple[str, ...] = ()) -> Schema:
    return Schema(script, frozenset(required), frozenset(optional))


# results file stem (soak_<model> and train_on_device_<label> share one schema) -> what it holds
SCHEMAS = {
    "results": _schema("benchmarks/run.py", optional=("generator", "repro", "repro_sequential", "training",
                                                     "convergence", "serve")),
    "serve": _schema("benchmarks/serve.py", "goal", "results"),
    "serve_profile": _schema("benchmarks/serve_profile.py", "model", "uri", "requests", "runs"),
    "soak": _schema("benchmarks/soak.py", "model", "alias", "clients", "rss_mb_start", "rss_mb_end",
                    "rss_growth_mb", "requests", "seconds", "unexpected", "unexpected_examples", "by_payload",
                    "rss_mb_by_request"),
    "train_on_device": _schema("benchmarks/train_on_device.py", "environment", "overrides", "runs",
                               optional=("quality_overrides",)),
    "leave_kind_out": _schema("benchmarks/denoiser/leave_kind_out.py", "epochs", "groups_passing", "groups", "kinds"),
    "held_out_sample": _schema("benchmarks/denoiser/held_out_sample.py", "per_group", "draw_size", "draws", "groups",
                               "passing"),
    "guard_ablation": _schema("benchmarks/denoiser/guard_ablation.py", "threshold_db", "sets", "ablations"),
    "known_noise": _schema("benchmarks/denoiser/known_noise.py", "groups", "totals"),
    "walk_limit": _schema("benchmarks/denoiser/walk_limit.py", "per_group", "groups"),
    "noise_estimator": _schema("benchmarks/denoiser/noise_estimator.py", "per_group", "families", "cells"),
    "notebook_experiment": _schema("benchmarks/denoiser/notebook_experiment.py", "n_signals", "cpu_threads",
                                   "overrides", "split", "validation", "test", "seconds"),
    "mutation": _schema("benchmarks/mutation.py", "mutmut", "cores", "workers", "runs", "groups", "handmade"),
}


def schema_for(stem: str) -> Schema:
    """The schema of a results file named STEM.json."""
    for name in (stem, stem.split("_")[0], stem.rsplit("_", 1)[0]):
        if name in SCHEMAS:
            return SCHEMAS[name]
    raise KeyError(f"benchmarks/results/{stem}.json: no schema in benchmarks/publish.py SCHEMAS")


def schema_problem(stem: str, result: dict) -> str | None:
    """What is wrong with RESULT's keys for a file named STEM.json, or None."""
    schema = schema_for(stem)
    keys = set(result) - {"provenance"}
    missing, unknown = schema.required - keys, keys - schema.required - schema.optional
    if missing or unknown or not keys:
        return (f"{stem}.json: keys do not match what {schema.script} writes (missing: "
                f"{', '.join(sorted(missing)) or '-'}; unknown: {', '.join(sorted(unknown)) or '-'})")
    return None


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def machine() -> str:
    """The CPU model and core count (figures move with the machine), and the GPU when torch sees one."""
    cpu = platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    described = f"{cpu}, {os.cpu_count()} CPU cores"
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        described += f", {sys.modules['torch'].cuda.get_device_name(0)}"
    return described


def checkout_state(repo: Path = REPO) -> tuple[str, bool]:
    """(commit checked out, whether tracked files outside benchmarks/results differ from it)."""
    try:
        changed = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", ".",
                       ":(exclude)benchmarks/results")
        return _git(repo, "rev-parse", "HEAD"), bool(changed)
    except (OSError, subprocess.CalledProcessError):
        # a copy without .git (a lent GPU machine gets the working tree only): the caller names it
        commit = os.environ.get("BENCH_COMMIT", "")
        if not commit:
            raise SystemExit(f"error: {repo} is not a git checkout; set BENCH_COMMIT to the commit it holds") from None
        return commit, False


def _state_at_start() -> tuple[str, bool] | None:
    try:
        return checkout_state()
    except SystemExit:
        return None


# read when a benchmark starts (every one imports this module first): the code it measures is the
# code checked out then, whatever is committed while it runs
STATE_AT_START = _state_at_start()


def provenance(script: str, repo: Path = REPO) -> dict:
    """What a results file was measured on: the commit checked out when the run started, whether
    tracked files outside benchmarks/results differed from it (then the figures belong to no
    commit), the script, the date and the machine."""
    commit, dirty = STATE_AT_START if repo == REPO and STATE_AT_START else checkout_state(repo)
    # the load average over the run's last 15 minutes: figures measured on a busy machine say so
    return {"commit": commit, "dirty": dirty, "script": script, "date": time.strftime("%Y-%m-%d"),
            "machine": machine(), "load_avg_15min": round(os.getloadavg()[2], 1)}


def provenance_line(prov: dict) -> str:
    """The first line of every results table: where its figures come from."""
    state = " with uncommitted changes" if prov["dirty"] else ""
    load = f" (load average {prov['load_avg_15min']})" if "load_avg_15min" in prov else ""
    return (f"Measured by `{prov['script']}` at commit {prov['commit'][:10]}{state}, {prov['date']}, on "
            f"{prov['machine']}{load}.")


def trained_denoiser(params: dict):
    """(Prepared, model): the pipeline's trained DENOISER and its data, as the evaluate stage loads
    them (run `dvc repro` first)."""
    from pipeline.evaluate import load_trained
    from pipeline.registry import get_model

    return load_trained(get_model(DENOISER, "model"), params)


def fresh_signals(params: dict, per_group: int, kinds: list[str], noises: list[dict], seed: int):
    """`per_group` new signals per kind x noise on params.yaml's grid, the pipeline's generator with
    `seed` (a SignalSet)."""
    from pipeline.data.signals import generate_signals

    config = params["signals"]
    return generate_signals(per_group, kinds, noises, length=config["length"], x_start=config["x_start"],
                            x_step=config["x_step"], seed=seed)


def run(doc: str, name: str, score: Callable[..., dict], markdown: Callable[[dict], str],
        per_group: int | None = None) -> None:
    """A benchmark's command line: --params (params.yaml) and --out (benchmarks/results), and, for one
    that draws fresh signals (`per_group` given: its default), --per-group, `score`'s second argument.
    Publishes NAME."""
    from pipeline.config import load_params

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    if per_group is not None:
        parser.add_argument("--per-group", type=int, default=per_group)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    params = load_params(args.params)
    result = score(params) if per_group is None else score(params, args.per_group)
    publish(args.out, name, result, markdown(result))


def publish(out: Path, name: str, result: dict, table: str | None = None, quiet: bool = False) -> None:
    """OUT/NAME.json (the figures, with their provenance) and OUT/NAME.md (the table, under its
    provenance line), each written whole; the table printed unless `quiet`. Refuses keys that
    SCHEMAS does not list for NAME."""
    problem = schema_problem(name, result)
    if problem:
        raise ValueError(problem)
    prov = provenance(schema_for(name).script)
    write_text(Path(out) / f"{name}.json", json.dumps({**result, "provenance": prov}, indent=2) + "\n")
    if table is not None:
        table = f"{provenance_line(prov)}\n\n{table.rstrip()}\n"
        write_text(Path(out) / f"{name}.md", table)
        if not quiet:
            print(table)
