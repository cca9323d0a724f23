"""Stage `summary`: one table of every model against its baselines, from the eval metrics.

Writes reports/summary.json and reports/summary.md: per model, the gate's verdict (the
model's figure next to its baseline's, in words) and every `test_*` figure beside the
matching `baseline_<name>_test_*` figures.
"""
from __future__ import annotations

import json
import re

from . import paths
from .cli import main_wrapper, stage_parser
from .config import load_params
from .io import atomic_path, write_json
from .models import get_model

BASELINE = re.compile(r"^baseline_(?P<name>.+?)_(?P<metric>test_.+)$")


def summarize(params: dict) -> dict:
    summary = {}
    for name in params["train"]:
        spec = get_model(name, f"train.{name}")
        metrics = json.loads(paths.eval_metrics(name).read_text())
        verdict = spec.task().gate(metrics)
        baselines: dict[str, dict[str, float]] = {}
        for key, value in metrics.items():
            match = BASELINE.match(key)
            if match and match["metric"] in metrics:
                baselines.setdefault(match["metric"], {})[match["name"]] = value
        summary[name] = {
            "registered_name": spec.registered_name,
            "passes_gate": verdict.passed,
            "verdict": verdict.reason,
            "figures": {metric: {"model": metrics[metric], **others} for metric, others in sorted(baselines.items())},
        }
    return summary


def markdown(summary: dict) -> str:
    lines = ["| model | gate | verdict |", "| --- | --- | --- |"]
    lines += [f"| {name} | {'pass' if entry['passes_gate'] else 'fail'} | {entry['verdict']} |"
              for name, entry in summary.items()]
    for name, entry in summary.items():
        columns = sorted({b for figures in entry["figures"].values() for b in figures if b != "model"})
        if not columns:
            continue
        lines += ["", f"### {name}", "", "| figure | model | " + " | ".join(columns) + " |",
                  "| --- " * (len(columns) + 2) + "|"]
        for metric, figures in entry["figures"].items():
            cells = [f"{figures[c]:.4g}" if c in figures else "" for c in columns]
            lines.append(f"| {metric} | {figures['model']:.4g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.summary", __doc__)
    args = parser.parse_args(argv)
    summary = summarize(load_params(args.params))
    write_json(paths.REPORTS / "summary.json", summary)
    with atomic_path(paths.REPORTS / "summary.md") as tmp:
        tmp.write_text(markdown(summary))
    for name, entry in summary.items():
        print(f"{name}: {entry['verdict']}")


if __name__ == "__main__":
    main()
