"""`make bench`: speed and memory figures, measured side by side in one run.

    python benchmarks/run.py [--only generator,repro,serve,repro_sequential]

Prints a table and writes benchmarks/results/results.json and results.md. Ratios matter
more than absolute times on these shared machines.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from publish import publish  # noqa: E402
RESULTS = REPO / "benchmarks" / "results"

SEED_SAMPLES, SEED_LENGTH = 100_000, 150


def seed_notebook_loop(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's way, kept here only as the reference: Python loops point by point, each
    point's noise drawn in the loop (SPEC: "tens of seconds"), then float64 arrays of x and y
    for every sample, as the notebook stores them (the same deliverable as the pipeline's)."""
    xs, noisy = [], []
    for _ in range(n):
        x = [i * 0.01 for i in range(-50, 100)]
        y = [v * v + 0.05 * rng.standard_normal() for v in x]
        xs.append(x)
        noisy.append(y)
    return np.array(xs), np.array(noisy)


def generate(variant: str) -> dict:
    """One generator run in this process: its seconds and the peak RSS it added (Linux's VmHWM, the
    process's high-water mark, so the figure is clean only in a fresh process: see bench_generator;
    ru_maxrss would not do: a child starts with its parent's)."""
    from pipeline.data.signals import generate_signals, save_signal_set

    def peak_kb() -> int:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0])

    before, started = peak_kb(), time.perf_counter()
    if variant == "notebook":
        xs, ys = seed_notebook_loop(SEED_SAMPLES, np.random.default_rng(0))
    else:
        signal_set = generate_signals(SEED_SAMPLES, ["quadratic"], [{"kind": "gaussian", "sigma": 0.05}],
                                      length=SEED_LENGTH, seed=0)
    figures = {"seconds": time.perf_counter() - started, "peak_mb": (peak_kb() - before) / 1024}
    if variant == "notebook":
        figures["float64_x_and_y_mb"] = (xs.nbytes + ys.nbytes) / 2**20
    else:
        with tempfile.TemporaryDirectory() as tmp:
            save_signal_set(Path(tmp) / "signals.npz", signal_set)
            figures["npz_mb"] = (Path(tmp) / "signals.npz").stat().st_size / 2**20
        figures.update(dtype=str(signal_set.noisy.dtype), x_stored_once=signal_set.x.ndim == 1)
    return figures


def bench_generator() -> dict:
    """The notebook's loop and the pipeline's generator, each run in a fresh process (clean peak
    RSS, no allocation tracing slowing the Python loop)."""
    def child(variant: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--generate", variant], check=True, capture_output=True,
                             text=True).stdout
        return json.loads(out.splitlines()[-1])

    # The pipeline's ~0.15 s is at the mercy of one scheduling hiccup on a shared machine: the
    # median of 3 runs. The loop's 10+ s averages its own noise out.
    notebook = child("notebook")
    pipeline = sorted((child("pipeline") for _ in range(3)), key=lambda run: run["seconds"])[1]
    return {"generator": {
        "samples": SEED_SAMPLES, "length": SEED_LENGTH,
        "notebook_loop_s": round(notebook["seconds"], 2), "vectorised_s": round(pipeline["seconds"], 3),
        "speedup": round(notebook["seconds"] / pipeline["seconds"], 1),
        "notebook_peak_mb": round(notebook["peak_mb"], 1), "vectorised_peak_mb": round(pipeline["peak_mb"], 1),
        "notebook_float64_x_and_y_mb": round(notebook["float64_x_and_y_mb"], 1),
        "pipeline_npz_on_disk_mb": round(pipeline["npz_mb"], 1),
        "pipeline_dtype": pipeline["dtype"], "x_stored_once": pipeline["x_stored_once"],
    }}


def read_history(path: Path) -> list[dict]:
    """A per-epoch CSV as numbers; an empty cell (a column only some epochs fill, such as the refine
    phase's losses) is left out of its row."""
    import csv

    with path.open() as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def convergence(reference: list[dict], model: list[dict]) -> dict:
    """From two per-epoch histories (val_mse_raw, seconds): the validation error the reference
    ends at (its best epoch) and the epochs and seconds `model` takes to reach it."""
    target = min(row["val_mse_raw"] for row in reference)
    reached = next((row for row in model if row["val_mse_raw"] <= target), None)
    return {"reference_val_mse": target, "reference_epochs": len(reference),
            "reference_seconds": round(reference[-1]["seconds"], 1),
            "epochs_to_reference": int(reached["epoch"]) if reached else None,
            "seconds_to_reference": round(reached["seconds"], 1) if reached else None,
            "model_epochs_run": len(model)}


STAGE_START = re.compile(r"^Running stage '(?P<stage>[^']+)'")


def stage_seconds(lines: list[tuple[float, str]], finished: float) -> dict[str, float]:
    """Wall seconds per stage from `dvc repro`'s output, each line with the second it arrived: a
    stage lasts from its "Running stage" line to the next stage's (the last one to `finished`), so
    DVC's own work after a command (hashing outputs, the lock file) counts to its stage."""
    starts = [(at, match["stage"]) for at, line in lines if (match := STAGE_START.match(line))]
    ends = [at for at, _ in starts[1:]] + [finished]
    return {stage: round(end - at, 1) for (at, stage), end in zip(starts, ends)}


def run_timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, list[tuple[float, str]]]:
    """(seconds, output lines with the second each arrived) of a command that must succeed."""
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line))
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, cmd, "".join(line for _, line in lines))
    return time.perf_counter() - started, lines


RUNNER_SUMMARY = re.compile(r"^repro: (?P<chains>.*); (?P<total>\d+) s in all")


def chain_seconds(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Each model chain's seconds from `python -m pipeline.repro`'s last line ("repro: m1 12 s, ...")."""
    summary = next(match for _, line in reversed(lines) if (match := RUNNER_SUMMARY.match(line)))
    pairs = [part.rsplit(" ", 2) for part in summary["chains"].split(", ") if part.endswith(" s")]
    return {name: float(seconds) for name, seconds, _ in pairs}


def bench_repro(sequential: bool = False, reference: str = "signal_denoiser_seed",
                model: str = "signal_denoiser") -> dict:
    """From a clean clone on default params: `make repro`'s `python -m pipeline.repro` (model chains
    side by side) with each chain's wall time, or with `sequential` a plain `dvc repro` with each
    stage's; then the no-op run of the same command. The same run gives the training figures: each
    train stage's throughput and data-loading share (measured by the training loop) and the epochs
    the improved denoiser takes to reach the validation error of the notebook's configuration (both
    log their validation MSE in raw units per epoch)."""
    command = ["dvc", "repro"] if sequential else [sys.executable, "-m", "pipeline.repro"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(copy)], check=True)
        shutil.copy(REPO / "params.yaml", copy / "params.yaml")  # the working tree's params
        full_s, output = run_timed(command, copy, env)
        noop_s, _ = run_timed(command, copy, env)
        repro = {"command": "dvc repro" if sequential else "python -m pipeline.repro",
                 "full_repro_s": round(full_s, 1), "noop_repro_s": round(noop_s, 1)}
        if sequential:
            repro["stage_s"] = stage_seconds(output, full_s)
        else:
            repro["chain_s"] = chain_seconds(output)
        training = []
        for path in sorted((copy / "metrics" / "train").glob("*.json")):
            metrics = json.loads(path.read_text())
            training.append({"model": path.stem, "train_seconds": metrics["train_seconds"],
                             "samples_per_s": round(metrics["samples_per_s"]),
                             "data_loading_share": metrics["data_loading_share"]})
        losses = copy / "plots" / "loss"
        converged = {"reference": reference, "model": model,
                     **convergence(read_history(losses / f"{reference}.csv"), read_history(losses / f"{model}.csv"))}
    return {"repro_sequential" if sequential else "repro": repro, "training": training, "convergence": converged}


def bench_serve() -> dict:
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve.py")], check=True)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve_profile.py")], check=True)
    return {"serve": json.loads((RESULTS / "serve.json").read_text())["results"]}


# each section returns {result key: figures}; `repro` gives the training figures of its run too.
# repro_sequential (plain `dvc repro`, ~11 min more on 2 cores) runs only when asked for with --only.
SECTIONS = {"generator": bench_generator, "repro": bench_repro, "serve": bench_serve,
            "repro_sequential": lambda: bench_repro(sequential=True)}
DEFAULT_SECTIONS = "generator,repro,serve"


def markdown(results: dict) -> str:
    lines = []
    gen = results.get("generator")
    if gen:
        lines += ["| signal generation, 100k × 150 | notebook loop | pipeline |", "| --- | --- | --- |",
                  f"| time | {gen['notebook_loop_s']} s | {gen['vectorised_s']} s ({gen['speedup']}× faster) |",
                  f"| peak RSS added | {gen['notebook_peak_mb']} MB | {gen['vectorised_peak_mb']} MB |",
                  f"| data size | {gen['notebook_float64_x_and_y_mb']} MB float64 x and y | "
                  f"{gen['pipeline_npz_on_disk_mb']} MB npz, {gen['pipeline_dtype']}, x once |", ""]
    for key, part, what in (("repro", "chain_s", "model chain"), ("repro_sequential", "stage_s", "stage")):
        r = results.get(key)
        if r:
            lines += [f"`{r['command']}` from clean: {r['full_repro_s']} s; no-op: {r['noop_repro_s']} s.", "",
                      f"| {what} (wall time in that run) | seconds |", "| --- | --- |"]
            lines += [f"| {name} | {seconds} |" for name, seconds in r[part].items()] + [""]
    if results.get("training"):
        lines += ["| train stage (in the repro) | seconds | samples/s | data loading share |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {r['model']} | {r['train_seconds']} | {r['samples_per_s']} | {r['data_loading_share']:.1%} |"
                  for r in results["training"]] + [""]
    if results.get("convergence"):
        c = results["convergence"]
        reached = (f"in {c['epochs_to_reference']} of its {c['model_epochs_run']} epochs "
                   f"({c['seconds_to_reference']} s)" if c["epochs_to_reference"] else "not within its epochs")
        lines += [f"Convergence: the notebook's configuration (`{c['reference']}`) ends at validation MSE "
                  f"{c['reference_val_mse']:.3g} after {c['reference_epochs']} epochs ({c['reference_seconds']} s); "
                  f"`{c['model']}` reaches it {reached}.", ""]
    if results.get("serve"):
        from serve import table

        lines += [table(results["serve"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=DEFAULT_SECTIONS,
                        help=f"comma-separated sections of: {', '.join(SECTIONS)} (default: %(default)s)")
    parser.add_argument("--generate", choices=["notebook", "pipeline"], help=argparse.SUPPRESS)  # bench_generator's child
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate)))
        return
    results = {}
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        figures = SECTIONS[name]()
        results.update(figures)
        print(json.dumps(figures, indent=1), flush=True)
    publish(RESULTS, "results", results, markdown(results))


if __name__ == "__main__":
    main()
