"""`python -m pipeline --help`: the stages and commands of the pipeline."""
from __future__ import annotations

import sys

COMMANDS = {
    "ingest": "stage ingest_<dataset>: parse + validate raw data (stock, lotto, mnist)",
    "generate_signals": "stage generate_signals: pure and noisy 1-D signals",
    "train": "stage train@<model>: train one model from params.yaml",
    "evaluate": "stage evaluate@<model>: test metrics next to the model's baseline",
    "register": "stage register: log models to the MLflow registry behind the quality gate",
    "summary": "stage summary: one table of every model vs its baselines (reports/summary.md)",
    "serve": "serve a registered model with `mlflow models serve` on 127.0.0.1",
    "predict": "a registered model's answers for a file (CSV, xlsx, npy, PNG, IDX) -> predictions/<model>/",
    "repro": "`make repro`: dvc repro with the model chains side by side (--jobs N)",
}


def main() -> None:
    from .registry import MODELS

    print("usage: python -m pipeline.<command> [--help]\n\ncommands:")
    for name, text in COMMANDS.items():
        print(f"  {name:<17} {text}")
    print("\nmodels (params.yaml `train:` keys):")
    for spec in MODELS.values():
        print(f"  {spec.name:<17} {spec.description} (registry: {spec.registered_name})")
    print("\nThe usual way to run stages is `make repro` or `dvc repro` (see README.md).")
    sys.exit(0 if set(sys.argv[1:]) <= {"-h", "--help"} else 2)


if __name__ == "__main__":
    main()
