"""Leave-one-kind-out for the signal denoiser: for every kind it trains on, train a model
without that kind and score the guarded model on it, next to the best classical filter.

    python benchmarks/denoiser/leave_kind_out.py [--kinds sine steps ...] [--epochs 6] [--jobs N]
                                        [--params params.yaml] [--no-mlflow] [--out DIR]

The pipeline's own evaluation already holds `signals.held_out_kinds` out of training; this
repeats that for each of `signals.families` in turn (same params, the kind moved to the
held-out list, `--epochs` instead of the block's, refine_epochs in proportion). Data and
models live in a temp folder; training takes the GPU when there is one (on 2 CPU cores 6 epochs
take ~8 min, the pipeline's 20 ~10 min). On the CPU the kinds train in `--jobs` processes at once
(default: usable cores // cpu_threads, as `python -m pipeline.repro` runs its chains), each with
params.yaml's `cpu_threads`, so a machine's core count does not change the figures; on a GPU one
at a time.
Writes DIR/leave_kind_out.{json,md,csv} (DIR: benchmarks/results; the JSON, the counts, is a DVC metrics file:
`dvc metrics show`) and logs one run with the counts and the three files to the MLflow experiment
`signal_denoiser.leave_kind_out` (tag `mlflow.source.git.commit`), unless --no-mlflow.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # publish, train_on_device

from pipeline.cli import pin_cpu_threads  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.registry import MODELS  # noqa: E402
from pipeline.repro import default_jobs  # noqa: E402
from pipeline.plots import write_table  # noqa: E402
from publish import publish  # noqa: E402
from train_on_device import environment, train_and_evaluate  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MODEL = "signal_denoiser"
EXPERIMENT = f"{MODEL}.leave_kind_out"
FIGURES = ("model", "net", "best_classical", "margin_db", "fallback_share")  # per group, from the evaluation


def training_block(params: dict, epochs: int) -> dict:
    """MODEL's params block with `epochs`, and the same share of refine epochs (4 of 20 -> 1 of 6)."""
    block = params["train"][MODEL]
    return {**block, "epochs": epochs, "refine_epochs": round(epochs * block.get("refine_epochs", 0) / block["epochs"])}


def score_without(kind: str, params: dict, epochs: int, root: Path) -> dict:
    """Train MODEL on every family but `kind` (on the pipeline's device: CUDA when present), and
    summarise the guarded model's groups of `kind`."""
    from pipeline.generate_signals import generate
    from pipeline.tasks.signals.scoring import passes

    cfg = params["signals"]
    without = {**params, "signals": {**cfg, "families": [f for f in cfg["families"] if f != kind],
                                     "held_out_kinds": [kind]},
               "train": {**params["train"], MODEL: training_block(params, epochs)}}
    generate(without, root / kind)
    _, result, evaluation = train_and_evaluate(MODELS[MODEL], without, root / kind)
    rows = [r for r in evaluation.tables["gains"] if r["family"] == kind]
    return {"train_seconds": round(result.seconds, 1), "groups_passing": sum(map(passes, rows)), "groups": len(rows),
            "noises": {r["noise"]: {k: r[k] for k in FIGURES} for r in rows}}


def _worker_setup(cpu_threads: int) -> None:
    pin_cpu_threads(cpu_threads)
    sys.stderr = open(os.devnull, "w")  # no progress bars: several at once garble a terminal (errors come back raised)


def score_all(kinds: list[str], params: dict, epochs: int, jobs: int, root: Path) -> dict[str, dict]:
    """score_without for each kind, `jobs` at a time in processes of `cpu_threads` threads; in the
    order of `kinds`, each printed as it finishes."""
    results = {}
    with ProcessPoolExecutor(jobs, multiprocessing.get_context("spawn"), _worker_setup,
                             (params["cpu_threads"],)) as pool:
        futures = {pool.submit(score_without, kind, params, epochs, root): kind for kind in kinds}
        for future in as_completed(futures):
            kind = futures[future]
            results[kind] = future.result()
            print(json.dumps({kind: results[kind]}), flush=True)
    return {kind: results[kind] for kind in kinds}


def summarise(kinds: dict[str, dict], epochs: int) -> dict:
    """The results file, a DVC metrics file kept readable: the counts per kind and in all (the
    per-group figures are rows of group_rows' table)."""
    return {"epochs": epochs, "groups_passing": sum(k["groups_passing"] for k in kinds.values()),
            "groups": sum(k["groups"] for k in kinds.values()),
            "kinds": {kind: {k: result[k] for k in ("groups_passing", "groups", "train_seconds")}
                      for kind, result in kinds.items()}}


def group_rows(kinds: dict[str, dict]) -> list[dict]:
    """One row per held-out kind x noise: the figures of FIGURES."""
    return [{"kind": kind, "noise": noise, **{k: group[k] for k in FIGURES}}
            for kind, result in kinds.items() for noise, group in result["noises"].items()]


def markdown(summary: dict, rows: list[dict], trained_on: str = "the CPU") -> str:
    noises = list(dict.fromkeys(r["noise"] for r in rows))
    lines = ["| held-out kind | " + " | ".join(noises) + " | passing |", "| --- |" + " --- |" * (len(noises) + 1)]
    for kind, result in summary["kinds"].items():
        cells = {r["noise"]: f"{r['model']:+.1f} / {r['best_classical']:+.1f}" for r in rows if r["kind"] == kind}
        lines.append(f"| {kind} | " + " | ".join(cells.get(n, "") for n in noises)
                     + f" | {result['groups_passing']}/{result['groups']} |")
    legend = (f"Cells: guarded model / best classical filter, test SNR gain in dB (noisy input: 0); "
              f"{summary['groups_passing']} of {summary['groups']} groups pass; {summary['epochs']} epochs per model, "
              f"trained on {trained_on}. Every group's figures: leave_kind_out.csv.")
    return "\n".join(lines) + f"\n\n{legend}\n"


def mlflow_metrics(summary: dict) -> dict[str, float]:
    """The counts, prefixed `lko_` (the per-group figures go to the run as the CSV table)."""
    metrics = {"lko_groups_passing": summary["groups_passing"], "lko_groups": summary["groups"]}
    for kind, result in summary["kinds"].items():
        metrics[f"lko_groups_passing_{kind}"] = result["groups_passing"]
        metrics[f"lko_train_seconds_{kind}"] = result["train_seconds"]
    return {k: float(v) for k, v in metrics.items()}


def log_run(summary: dict, params: dict, files: list[Path]) -> str:
    """One MLflow run per benchmark: the model's params, every figure as a metric, both files."""
    from pipeline import tracking

    mlflow = tracking.mlflow()
    experiment_id = tracking.ensure_experiment(
        EXPERIMENT, f"Leave-one-kind-out of {MODEL}: one model per trained kind, scored on that kind "
                    "(benchmarks/leave_kind_out.py).")
    tags = {"model": MODEL, "benchmark": "leave_kind_out"}
    if commit := tracking.git_commit():
        tags["mlflow.source.git.commit"] = commit
    name = f"leave-kind-out · {summary['epochs']} epochs · {dt.datetime.now():%Y-%m-%d %H:%M}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        mlflow.log_params(tracking.flatten({**training_block(params, summary["epochs"]),
                                            "kinds": list(summary["kinds"]), "signals": params["signals"]}))
        mlflow.log_metrics(mlflow_metrics(summary))
        for path in files:
            mlflow.log_artifact(str(path))
    return run.info.run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--kinds", nargs="*", help="default: every kind in signals.families")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--jobs", type=int, help="kinds trained at once (default: usable cores // cpu_threads; "
                                                 "1 on a GPU)")
    parser.add_argument("--no-mlflow", action="store_true", help="only write the results files")
    parser.add_argument("--out", default=str(RESULTS), help="folder for leave_kind_out.{json,md,csv}")
    args = parser.parse_args()
    params = load_params(args.params)
    gpu = environment()["gpu"]
    jobs = args.jobs or (1 if gpu else default_jobs(params["cpu_threads"]))
    with tempfile.TemporaryDirectory() as tmp:
        kinds = score_all(args.kinds or params["signals"]["families"], params, args.epochs, jobs, Path(tmp))
    summary, rows = summarise(kinds, args.epochs), group_rows(kinds)
    publish(Path(args.out), "leave_kind_out", summary, markdown(summary, rows, gpu or "the CPU"))
    files = [Path(args.out) / f"leave_kind_out.{ext}" for ext in ("json", "md", "csv")]
    write_table(files[2], rows)
    if not args.no_mlflow:
        print(f"logged to MLflow experiment {EXPERIMENT}, run {log_run(summary, params, files)}")


if __name__ == "__main__":
    main()
