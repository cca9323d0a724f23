"""What the benchmarks that score fresh signals share: how they draw them, their command line and how
they publish."""
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


def fresh_signals(params: dict, per_group: int, kinds: list[str], noises: list[dict], seed: int):
    """`per_group` new signals per kind x noise on params.yaml's grid, the pipeline's generator with
    `seed` (a SignalSet)."""
    from pipeline.data.signals import generate_signals

    config = params["signals"]
    return generate_signals(per_group, kinds, noises, length=config["length"], x_start=config["x_start"],
                            x_step=config["x_step"], seed=seed)


def run_on_fresh_signals(doc: str, name: str, sample: Callable[[dict, int], dict], markdown: Callable[[dict], str],
                         per_group: int) -> None:
    """The command line of a benchmark that scores fresh signals: --params (params.yaml), --per-group
    (signals per group, `sample`'s second argument) and --out (benchmarks/results); publishes NAME."""
    from pipeline.config import load_params

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--per-group", type=int, default=per_group)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = sample(load_params(args.params), args.per_group)
    publish(args.out, name, result, markdown(result))


def publish(out: Path, name: str, result: dict, table: str) -> None:
    """OUT/NAME.json (the figures) and OUT/NAME.md (the table), each written whole; the table printed."""
    write_text(Path(out) / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text(Path(out) / f"{name}.md", table)
    print(table)
