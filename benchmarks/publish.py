"""What the benchmarks that score the trained signal denoiser share: how they load it, how they draw
fresh signals, their command line and how they publish."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipeline.io import write_text  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DENOISER = "signal_denoiser"


def trained_denoiser(params: dict):
    """(Prepared, model): the pipeline's trained DENOISER and its data, as the evaluate stage loads
    them (run `dvc repro` first)."""
    from pipeline.evaluate import load_trained
    from pipeline.models import get_model

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


def publish(out: Path, name: str, result: dict, table: str) -> None:
    """OUT/NAME.json (the figures) and OUT/NAME.md (the table), each written whole; the table printed."""
    write_text(Path(out) / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text(Path(out) / f"{name}.md", table)
    print(table)
