"""Stage `generate_signals`: pure and noisy 1-D signals into data/processed/signals/.

Two files on the same grid, families and noises: the training set (drawn with `seed`; each
model splits it into train/val) and the held-out test set (drawn with `signals.test_seed`).
Both also hold `signals.held_out_kinds`, marked so that no model trains on them: their
training-file rows only tune the classical filters they are compared with. The stage also draws one
pure and noisy signal per kind x noise (plots/figures/generate_signals/samples.png, its DVC plots),
before anything is written. And the sweep (`signals.sweep`): per length a validation file (drawn
with [seed, length]) and a test file ([test_seed, length]), every family and held-out kind x the
sweep's noises, on the main files' x span.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import data_figures, paths
from .cli import main_wrapper, stage_parser
from .config import load_params
from .io import atomic_path, file_digest
from .plots import write_figures


def generate(params: dict, out_dir: Path | None = None, figures_dir: Path | None = None) -> dict:
    """Both signal files and their summary into `out_dir` (default: the stage's data/processed/signals),
    and the sample figure into `figures_dir` (None: none). `params` as load_params gives them:
    validated, so test_seed differs from seed (pipeline.config)."""
    from .data import signals

    cfg = params["signals"]
    common = {name: cfg[name] for name in ("families", "noises", "length", "x_start", "x_step")}
    common["held_out"] = cfg["held_out_kinds"]
    sets = {
        signals.TRAIN_FILE: signals.generate_signals(cfg["n_per_family"], seed=params["seed"], **common),
        signals.TEST_FILE: signals.generate_signals(cfg["n_test_per_family"], seed=cfg["test_seed"], **common),
    }
    sweep = cfg["sweep"]
    span = cfg["length"] * cfg["x_step"]
    for length in sweep["lengths"]:
        layout = {**common, "noises": sweep["noises"], "length": length, "x_step": span / length}
        for part, seed in (("val", params["seed"]), ("test", cfg["test_seed"])):
            sets[signals.sweep_file(part, length)] = signals.generate_signals(
                sweep["n_per_family"], seed=[seed, length], **layout)
    figures = {"samples": data_figures.signal_samples(sets[signals.TRAIN_FILE])} if figures_dir is not None else {}
    summary: dict = {"files": {}}
    with atomic_path(out_dir or paths.dataset_dir("signals")) as tmp:
        tmp.mkdir()
        for name, signal_set in sets.items():
            signals.save_signal_set(tmp / name, signal_set)
            summary["files"][name] = file_digest(tmp / name)
        for name, part in ((signals.TRAIN_FILE, "train"), (signals.TEST_FILE, "test")):
            summary[part] = signals.summarize(sets[name])
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if figures:
        write_figures(figures_dir, figures)
    return summary


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.generate_signals", __doc__)
    args = parser.parse_args(argv)
    summary = generate(load_params(args.params), figures_dir=paths.stage_figures_dir("generate_signals"))
    counts = {part: summary[part]["n_samples"] for part in ("train", "test")}
    print(f"generate_signals: {json.dumps({'n_samples': counts, 'length': summary['train']['length']})}")


if __name__ == "__main__":
    main()
