"""Train on the selected device (CUDA when present) with the pipeline's own code, then score.

    python benchmarks/train_on_device.py [--models NAME ...] [--quality] [--set KEY=VALUE ...]
                                         [--out DIR]

Made for a GPU machine that has torch but neither MLflow nor DVC: the same prepare, build, fit
and evaluate functions as the train and evaluate stages, without tracking or DVC outputs. Each
model of params.yaml trains on data/processed/<dataset> (made by `dvc repro`); `--quality` also
trains the signal denoiser's quality profile (the Makefile's QUALITY_PARAMS) on signals generated
into a temp folder. Evaluation runs on the CPU, as the evaluate stage does, at `cpu_threads`. Writes
DIR/train_on_device.json after every model (a run cut short keeps what finished) and
DIR/train_on_device.md at the end (DIR: benchmarks/results).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import paths  # noqa: E402
from pipeline.cli import pin_cpu_threads  # noqa: E402
from pipeline.config import model_params, validate_params  # noqa: E402
from pipeline.errors import ParamsError  # noqa: E402
from pipeline.registry import MODELS, ModelSpec  # noqa: E402
from publish import publish  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
QUALITY_MODEL = "signal_denoiser"


def parse_assignments(items: list[str]) -> list[tuple[str, object]]:
    """`dvc exp run -S` style KEY=VALUE pairs; values parsed as YAML (60 -> int, 2.0e-3 -> float)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamsError(item, "expected KEY=VALUE with a dotted params.yaml key")
        pairs.append((key, yaml.safe_load(value)))
    return pairs


def quality_overrides(makefile: Path = REPO / "Makefile") -> list[tuple[str, object]]:
    """The quality profile, as `make quality` passes it to DVC (the Makefile's QUALITY_PARAMS line)."""
    line = next((row for row in makefile.read_text().splitlines() if row.startswith("QUALITY_PARAMS :=")), None)
    if line is None:
        raise ParamsError(str(makefile), "no `QUALITY_PARAMS :=` line")
    return parse_assignments(line.split(":=", 1)[1].split())


def with_overrides(raw: dict, overrides: list[tuple[str, object]]) -> dict:
    """Validated params: raw params.yaml content with each dotted key set, as `dvc exp run -S` sets it."""
    changed = copy.deepcopy(raw)
    for key, value in overrides:
        *parents, leaf = key.split(".")
        node = changed
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ParamsError(".".join(parents[: depth + 1]), "no such section in params.yaml")
            node = node[part]
        node[leaf] = value
    return validate_params(changed)


def train_and_evaluate(spec: ModelSpec, params: dict, data_dir: Path, device=None):
    """What the train and evaluate stages do for `spec`, untracked: (model, FitResult, Evaluation).
    The model trains on `device` (default: the pipeline's choice) and is scored on the CPU."""
    from pipeline.train import fit_model, prepare_and_build

    prepared, model = prepare_and_build(spec, params, data_dir)
    result = fit_model(spec, params, model, prepared, device)
    model.cpu().eval()
    return model, result, spec.task.evaluate(model, prepared, model_params(params, spec.name))


def run_one(spec: ModelSpec, params: dict, data_dir: Path) -> dict:
    """One model's figures: where and how fast it trained, and its gate's verdict. The process runs
    at params' `cpu_threads`, as the stages do: the CPU evaluation's figures depend on the count."""
    import torch

    from pipeline.training import count_parameters, select_device

    pin_cpu_threads(params["cpu_threads"])
    device = select_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    model, result, evaluation = train_and_evaluate(spec, params, data_dir, device)
    verdict = spec.task.gate(evaluation.metrics)
    figures = {
        "device": str(device),
        "cpu_threads": params["cpu_threads"],
        "n_parameters": count_parameters(model),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "train_seconds": round(result.seconds, 2),
        "samples_per_s": round(result.samples_per_s, 1),
        "data_loading_share": round(result.data_loading_share, 4),
        "train_and_evaluate_seconds": round(time.perf_counter() - started, 2),
        "passed": verdict.passed,
        verdict.score_name: verdict.score,
        "verdict": verdict.reason,
        "metrics": evaluation.metrics,
    }
    if device.type == "cuda":
        figures["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return figures


def environment() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu, "cpu_cores": os.cpu_count()}


def markdown(summary: dict) -> str:
    env = summary["environment"]
    lines = [f"Trained on {env['gpu'] or 'the CPU'} (torch {env['torch']}, {env['cpu_cores']} CPU cores), "
             f"{env['date']}; evaluated on the CPU.", "",
             "| run | device | epochs (best) | train s | samples/s | peak GPU MB | gate |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in summary["runs"].items():
        if "error" in row:
            lines.append(f"| {name} | | | | | | error: {row['error']} |")
            continue
        gate = "passes" if row["passed"] else "fails"
        lines.append(f"| {name} | {row['device']} | {row['epochs_run']} ({row['best_epoch']}) | "
                     f"{row['train_seconds']:.1f} | {row['samples_per_s']:,.0f} | {row.get('peak_gpu_memory_mb', '')} | "
                     f"{gate}: {row['verdict']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--models", nargs="*", help="keys under `train:` (default: all); none with --quality alone")
    parser.add_argument("--quality", action="store_true", help="also the signal denoiser's quality profile")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override params (every run; after the quality profile's)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    raw = yaml.safe_load(Path(args.params).read_text())
    params = with_overrides(raw, parse_assignments(args.set))
    names = list(params["train"]) if args.models is None else args.models
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"environment": environment(), "overrides": args.set, "runs": {}}

    def record(name: str, run) -> None:
        try:
            summary["runs"][name] = run()
        except Exception as exc:  # noqa: BLE001 - one model's failure is a result; the others still run
            summary["runs"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps({name: summary["runs"][name]}), flush=True)
        publish(out, "train_on_device", summary)

    for name in names:
        spec = MODELS[name]
        record(name, lambda: run_one(spec, params, paths.dataset_dir(spec.dataset)))
    if args.quality:
        from pipeline.generate_signals import generate

        overrides = quality_overrides()
        quality = with_overrides(raw, [*overrides, *parse_assignments(args.set)])
        summary["quality_overrides"] = [f"{k}={v}" for k, v in overrides]
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "signals"
            generate(quality, data_dir)
            record(f"{QUALITY_MODEL} (quality profile)", lambda: run_one(MODELS[QUALITY_MODEL], quality, data_dir))
    publish(out, "train_on_device", summary, markdown(summary))


if __name__ == "__main__":
    main()
