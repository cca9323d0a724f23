"""Stage `summary`: one table of every model against its baselines, from the evaluations' tables.

Writes reports/summary.json and reports/summary.md: per model, the gate's verdict (the model's figure
next to its baseline's, in words), its headline table (plots/<model>/headline.csv: each headline
figure, the model's value beside its baselines') and the tables its task names in `summary_tables`
(the denoisers' gains per noise level), read as data from plots/<model>/; and, for every model that
has a notebook-faithful variant (`<model>_seed`), the two side by side: their first headline figure,
parameters and training seconds (metrics/train/<model>.json). And metrics/headline.json: each model's
first headline figure and whether it passes its gate, two values a model, the DVC metrics file listed
first so that `dvc exp show` opens on them.
"""
from __future__ import annotations

import json

from . import paths
from .cli import main_wrapper, stage_parser
from .config import load_params
from .io import atomic_path, write_json
from .registry import get_model
from .plots import read_table


def summarize(params: dict) -> dict:
    summary = {}
    for name in params["train"]:
        spec = get_model(name, f"train.{name}")
        verdict = spec.task.gate(json.loads(paths.eval_metrics(name).read_text()))
        tables = paths.eval_plots_dir(name)
        headline = read_table(tables / "headline.csv")
        summary[name] = {
            "registered_name": spec.registered_name,
            "passes_gate": verdict.passed,
            "verdict": verdict.reason,
            "figures": {row["figure"]: {k: v for k, v in row.items() if k != "figure"} for row in headline},
            # those its evaluation wrote (the sweep's cells need the sweep's files in its data)
            "tables": {table: [{c: row[c] for c in columns if c in row} for row in read_table(tables / f"{table}.csv")]
                       for table, columns in spec.task.summary_tables.items() if (tables / f"{table}.csv").is_file()},
        }
    return summary


def seed_pairs(summary: dict) -> list[dict]:
    """Each improved model beside its notebook-faithful variant (`<name>_seed`): the first headline
    figure of each, their parameter counts and training seconds."""
    rows = []
    for name in summary:
        seed = f"{name}_seed"
        if seed not in summary:
            continue
        figure = next(iter(summary[name]["figures"]))
        row = {"model": name, "figure": figure}
        for side, model in (("improved", name), ("notebook", seed)):
            trained = json.loads(paths.train_metrics(model).read_text())
            row[side] = summary[model]["figures"].get(figure, {}).get("model", "")
            row[f"{side}_parameters"] = trained["n_parameters"]
            row[f"{side}_train_seconds"] = trained["train_seconds"]
        rows.append(row)
    return rows


def headline_metrics(summary: dict) -> dict:
    """Per model, its first headline figure (the model's value) and `passes` (its gate); headers in
    `dvc exp show` read `<model>.<figure>` and `<model>.passes`."""
    headline = {}
    for name, entry in summary.items():
        figure, values = next(iter(entry["figures"].items()))
        headline[name] = {figure: values["model"], "passes": entry["passes_gate"]}
    return headline


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(columns: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "| --- " * len(columns) + "|",
            *("| " + " | ".join(map(_cell, row)) + " |" for row in rows)]


def markdown(summary: dict, pairs: list[dict] = ()) -> str:
    lines = ["| model | gate | verdict |", "| --- | --- | --- |"]
    lines += [f"| {name} | {'pass' if entry['passes_gate'] else 'fail'} | {entry['verdict']} |"
              for name, entry in summary.items()]
    if pairs:
        columns = list(pairs[0])
        lines += ["", "### The improved models beside the notebook's (`<model>_seed`)", "",
                  *_table(columns, [[row[c] for c in columns] for row in pairs])]
    for name, entry in summary.items():
        lines += ["", f"### {name}", ""]
        columns = list(dict.fromkeys(c for figures in entry["figures"].values() for c in figures))
        lines += _table(["figure", *columns], [[figure, *(figures.get(c, "") for c in columns)]
                                               for figure, figures in entry["figures"].items()])
        for table, rows in entry["tables"].items():
            columns = list(dict.fromkeys(c for row in rows for c in row))
            lines += ["", f"{table} (plots/{name}/{table}.csv):", "",
                      *_table(columns, [[row.get(c, "") for c in columns] for row in rows])]
    return "\n".join(lines) + "\n"


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.summary", __doc__)
    args = parser.parse_args(argv)
    summary = summarize(load_params(args.params))
    write_json(paths.REPORTS / "summary.json", summary)
    write_json(paths.headline_metrics(), headline_metrics(summary))
    with atomic_path(paths.REPORTS / "summary.md") as tmp:
        tmp.write_text(markdown(summary, seed_pairs(summary)))
    for name, entry in summary.items():
        print(f"{name}: {entry['verdict']}")


if __name__ == "__main__":
    main()
