"""Stage `generate_signals`: pure and noisy 1-D signals into data/processed/signals/."""
from __future__ import annotations

import argparse
import json

from . import paths
from .cli import main_wrapper
from .config import load_params
from .io import atomic_path, file_digest

SIGNALS_FILE = "signals.npz"


def generate(params: dict) -> dict:
    from .data import signals

    cfg = params["signals"]
    signal_set = signals.generate_signals(
        n_per_family=cfg["n_per_family"],
        families=cfg["families"],
        noises=cfg["noises"],
        length=cfg["length"],
        x_start=cfg["x_start"],
        x_step=cfg["x_step"],
        seed=params["seed"],
    )
    summary = signals.summarize(signal_set)
    with atomic_path(paths.dataset_dir("signals")) as tmp:
        tmp.mkdir()
        signals.save_signal_set(tmp / SIGNALS_FILE, signal_set)
        summary["files"] = {SIGNALS_FILE: file_digest(tmp / SIGNALS_FILE)}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.generate_signals", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    summary = generate(load_params(args.params))
    print(f"generate_signals: {json.dumps({k: v for k, v in summary.items() if k != 'files'}, sort_keys=True)}")


if __name__ == "__main__":
    main()
