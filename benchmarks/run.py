"""`make bench`: speed and memory figures, measured side by side in one run.

    python benchmarks/run.py [--only generator,training,repro,serve]

Prints a table and writes benchmarks/results/results.json and results.md. Ratios matter
more than absolute times on these shared machines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"

SEED_SAMPLES, SEED_LENGTH = 100_000, 150


def seed_notebook_loop(n: int, rng: np.random.Generator) -> tuple[list, list]:
    """The notebook's way, kept here only as the reference: Python loops, float64 x and y per sample."""
    xs, noisy = [], []
    for _ in range(n):
        x = [i * 0.01 for i in range(-50, 100)]
        noise = rng.standard_normal(len(x))
        y = [v * v + 0.05 * e for v, e in zip(x, noise)]
        xs.append(x)
        noisy.append(y)
    return xs, noisy


def bench_generator() -> dict:
    from pipeline.data.signals import generate_signals, save_signal_set

    def timed(fn):
        tracemalloc.start()
        started = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return out, seconds, peak

    (xs, ys), loop_s, loop_peak = timed(lambda: seed_notebook_loop(SEED_SAMPLES, np.random.default_rng(0)))
    notebook_bytes = np.asarray(xs, dtype=np.float64).nbytes + np.asarray(ys, dtype=np.float64).nbytes
    del xs, ys
    signal_set, vec_s, vec_peak = timed(lambda: generate_signals(
        SEED_SAMPLES, ["quadratic"], [{"kind": "gaussian", "sigma": 0.05}], length=SEED_LENGTH, seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        save_signal_set(Path(tmp) / "signals.npz", signal_set)
        disk = (Path(tmp) / "signals.npz").stat().st_size
    return {
        "samples": SEED_SAMPLES, "length": SEED_LENGTH,
        "notebook_loop_s": round(loop_s, 2), "vectorised_s": round(vec_s, 3), "speedup": round(loop_s / vec_s, 1),
        "notebook_peak_mb": round(loop_peak / 2**20, 1), "vectorised_peak_mb": round(vec_peak / 2**20, 1),
        "notebook_float64_x_and_y_mb": round(notebook_bytes / 2**20, 1),
        "pipeline_npz_on_disk_mb": round(disk / 2**20, 1),
        "pipeline_dtype": str(signal_set.noisy.dtype), "x_stored_once": signal_set.x.ndim == 1,
    }


def bench_training(batches: int = 30) -> list[dict]:
    """Training throughput (samples/s) per model on this machine's CPU, and the data-loading share."""
    import torch

    from pipeline import paths
    from pipeline.config import load_params
    from pipeline.models import MODELS
    from pipeline.tasks import build_model
    from pipeline.training import LOSSES, batches as make_batches

    params = load_params(REPO / "params.yaml")
    os.chdir(REPO)
    rows = []
    for name, spec in MODELS.items():
        if name not in params["train"] or not paths.dataset_dir(spec.dataset).exists():
            continue
        block = params["train"][name]
        prepared = spec.task().prepare(paths.dataset_dir(spec.dataset), block, f"train.{name}", params["seed"])
        model = build_model(spec, block, prepared.meta)
        optimizer = torch.optim.Adam(model.parameters(), lr=block["lr"])
        loss_fn = LOSSES[spec.loss]()
        rng = torch.Generator().manual_seed(0)
        load_s = step_s = 0.0
        seen = 0
        it = make_batches(prepared.train, block["batch_size"], rng)
        for _ in range(batches):
            started = time.perf_counter()
            try:
                inputs, targets = next(it)
            except StopIteration:
                it = make_batches(prepared.train, block["batch_size"], rng)
                inputs, targets = next(it)
            loaded = time.perf_counter()
            loss = loss_fn(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            load_s += loaded - started
            step_s += time.perf_counter() - loaded
            seen += len(inputs)
        rows.append({"model": name, "batch_size": block["batch_size"],
                     "samples_per_s": round(seen / (load_s + step_s)),
                     "data_loading_share": round(load_s / (load_s + step_s), 4)})
    return rows


class _Reached(Exception):
    """Raised from a per-epoch callback to end training once a target is met."""


def bench_convergence(reference: str = "signal_denoiser_seed", model: str = "signal_denoiser") -> dict:
    """Epochs (and seconds) the pipeline's denoiser needs to reach the validation error the
    notebook's configuration ends with. Both are scored the same way: MSE of the denoised
    validation signals in raw units (their training losses differ: BCE vs MSE)."""
    import torch

    from pipeline import paths
    from pipeline.config import load_params
    from pipeline.models import get_model
    from pipeline.tasks import build_model
    from pipeline.tasks.signals import denoise
    from pipeline.training import LOSSES, TrainConfig, fit

    torch.set_num_threads(1)  # steadier figures on a shared 2-core machine
    params = load_params(REPO / "params.yaml")
    os.chdir(REPO)

    def train(name: str, target: float | None) -> dict:
        spec, block = get_model(name), params["train"][name]
        prepared = spec.task().prepare(paths.dataset_dir(spec.dataset), block, f"train.{name}", params["seed"])
        net = build_model(spec, block, prepared.meta)
        val = prepared.raw["val"]
        curve: list[float] = []
        started = time.perf_counter()

        def score(row: dict) -> None:
            curve.append(float(np.mean((denoise(net, val.noisy) - val.pure) ** 2)))
            if target is not None and curve[-1] <= target:
                raise _Reached

        try:
            fit(net, prepared.train, prepared.val, LOSSES[spec.loss](), TrainConfig.from_params(block, params["seed"]),
                on_epoch=score, device=torch.device("cpu"))
        except _Reached:
            pass
        reached = target is None or curve[-1] <= target
        return {"epochs": len(curve) if reached else None, "of_epochs": block["epochs"],
                "seconds": round(time.perf_counter() - started, 1), "val_mse": min(curve)}

    seed = train(reference, None)
    ours = train(model, seed["val_mse"])
    return {"reference": reference, "model": model, "reference_val_mse": seed["val_mse"],
            "reference_epochs": seed["epochs"], "reference_seconds": seed["seconds"],
            "epochs_to_reference": ours["epochs"], "seconds_to_reference": ours["seconds"],
            "model_epochs_configured": ours["of_epochs"]}


def bench_repro() -> dict:
    """Full `dvc repro` from a clean copy on default params, then the no-op repro."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(copy)], check=True)
        shutil.copy(REPO / "params.yaml", copy / "params.yaml")  # the working tree's params

        def timed(cmd):
            started = time.perf_counter()
            subprocess.run(cmd, cwd=copy, env=env, check=True, capture_output=True)
            return round(time.perf_counter() - started, 1)

        return {"full_repro_s": timed(["dvc", "repro"]), "noop_repro_s": timed(["dvc", "repro"])}


def bench_serve() -> list[dict]:
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve.py")], check=True)
    return json.loads((RESULTS / "serve.json").read_text())["results"]


SECTIONS = {"generator": bench_generator, "training": bench_training, "convergence": bench_convergence,
            "repro": bench_repro, "serve": bench_serve}


def markdown(results: dict) -> str:
    lines = [f"Measured {results['date']} on {results['machine']}.", ""]
    gen = results.get("generator")
    if gen:
        lines += ["| signal generation, 100k × 150 | notebook loop | pipeline |", "| --- | --- | --- |",
                  f"| time | {gen['notebook_loop_s']} s | {gen['vectorised_s']} s ({gen['speedup']}× faster) |",
                  f"| peak memory | {gen['notebook_peak_mb']} MB | {gen['vectorised_peak_mb']} MB |",
                  f"| data size | {gen['notebook_float64_x_and_y_mb']} MB float64 x and y | "
                  f"{gen['pipeline_npz_on_disk_mb']} MB npz, {gen['pipeline_dtype']}, x once |", ""]
    if results.get("training"):
        lines += ["| model | batch | samples/s (CPU) | data loading share |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['model']} | {r['batch_size']} | {r['samples_per_s']} | {r['data_loading_share']:.1%} |"
                  for r in results["training"]] + [""]
    if results.get("convergence"):
        c = results["convergence"]
        reached = (f"in {c['epochs_to_reference']} of its {c['model_epochs_configured']} epochs "
                   f"({c['seconds_to_reference']} s)" if c["epochs_to_reference"] else "not within its epochs")
        lines += [f"Convergence: the notebook's configuration (`{c['reference']}`) ends at validation MSE "
                  f"{c['reference_val_mse']:.3g} after {c['reference_epochs']} epochs ({c['reference_seconds']} s); "
                  f"`{c['model']}` reaches it {reached}.", ""]
    if results.get("repro"):
        r = results["repro"]
        lines += [f"`dvc repro` from clean: {r['full_repro_s']} s; no-op `dvc repro`: {r['noop_repro_s']} s.", ""]
    if results.get("serve"):
        lines += ["| served model | clients | req/s | p50 ms | p99 ms | errors |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['model']} | {r['clients']} | {r['req_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |"
                  for r in results["serve"]] + [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    results = {"date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU" if not _cuda() else _cuda()}
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        results[name] = SECTIONS[name]()
        print(json.dumps(results[name], indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "results.md").write_text(markdown(results) + "\n")
    print(markdown(results))


def _cuda() -> str | None:
    import torch

    return f"{torch.cuda.get_device_name()} ({os.cpu_count()} CPU cores)" if torch.cuda.is_available() else None


if __name__ == "__main__":
    main()
