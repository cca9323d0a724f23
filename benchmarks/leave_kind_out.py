"""Leave-one-kind-out for the signal denoiser: for every kind it trains on, train a model
without that kind and score the guarded model on it, next to the best classical filter.

    python benchmarks/leave_kind_out.py [--kinds sine steps ...] [--epochs 6] [--params params.yaml]

The pipeline's own evaluation already holds `signals.held_out_kinds` out of training; this
repeats that for each of `signals.families` in turn (same params, the kind moved to the
held-out list, `--epochs` instead of the block's). Data and models live in a temp folder;
nothing is logged to MLflow. Writes benchmarks/results/leave_kind_out.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.config import load_params  # noqa: E402
from pipeline.data import signals  # noqa: E402
from pipeline.models import MODELS  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "leave_kind_out"
MODEL = "signal_denoiser"


def score_without(kind: str, params: dict, epochs: int, root: Path) -> dict:
    """Train MODEL on every family but `kind`, and summarise the guarded model's groups of `kind`."""
    import torch

    from pipeline.tasks import build_model
    from pipeline.tasks.signals import evaluate, prepare
    from pipeline.training import LOSSES, TrainConfig, fit

    cfg = params["signals"]
    common = {name: cfg[name] for name in ("noises", "length", "x_start", "x_step")}
    common.update(families=[f for f in cfg["families"] if f != kind], held_out=[kind])
    data = root / kind
    data.mkdir()
    signals.save_signal_set(data / signals.TRAIN_FILE,
                            signals.generate_signals(cfg["n_per_family"], seed=params["seed"], **common))
    signals.save_signal_set(data / signals.TEST_FILE,
                            signals.generate_signals(cfg["n_test_per_family"], seed=cfg["test_seed"], **common))
    block = {**params["train"][MODEL], "epochs": epochs}
    torch.manual_seed(params["seed"])
    prepared = prepare(data, block, f"train.{MODEL}", params["seed"])
    model = build_model(MODELS[MODEL], block, prepared.meta)
    started = time.perf_counter()
    config = TrainConfig.from_params(block, params["seed"])
    fit(model, prepared.train, prepared.val, LOSSES[MODELS[MODEL].loss](), config, device=torch.device("cpu"))
    seconds = time.perf_counter() - started
    rows = [r for r in evaluate(model, prepared, block).tables["gains"] if r["family"] == kind]
    return {"kind": kind, "train_seconds": round(seconds, 1),
            "groups": {r["noise"]: {k: r[k] for k in ("model", "net", "best_classical", "margin_db", "fallback_share")}
                       for r in rows}}


def markdown(results: list[dict]) -> str:
    noises = list(results[0]["groups"])
    lines = ["| held-out kind | " + " | ".join(noises) + " |", "| --- |" + " --- |" * len(noises)]
    for result in results:
        cells = [f"{g['model']:+.1f} / {g['best_classical']:+.1f}" for g in result["groups"].values()]
        lines.append(f"| {result['kind']} | " + " | ".join(cells) + " |")
    legend = "Cells: guarded model / best classical filter, test SNR gain in dB (noisy input: 0)."
    return "\n".join(lines) + f"\n\n{legend}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--kinds", nargs="*", help="default: every kind in signals.families")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    params = load_params(args.params)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds or params["signals"]["families"]:
            results.append(score_without(kind, params, args.epochs, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps({"epochs": args.epochs, "results": results}, indent=2) + "\n")
    OUT.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
