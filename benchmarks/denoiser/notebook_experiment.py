"""The signal notebook's own experiment, through the project's code: 100,000 signals y = x^2 + gaussian
0.05 (150 points), 30 % of them the test set, 20 % of the rest validation, the seed model with the
notebook's targets (each pure signal on its own range), 5 epochs, batch 150.

    python benchmarks/denoiser/notebook_experiment.py [--n 100000] [--params params.yaml] [--out DIR]

It trains and scores what `dvc exp run` with params.yaml's override for it (the comment above
`signals:`, OVERRIDES here) trains and scores, without DVC, MLflow or the other models: params.yaml
with OVERRIDES applied by DVC's own code (dvc.utils.hydra, what `-S` runs), the signals from
`pipeline.generate_signals`, the seed model prepared and trained by `pipeline.train`'s
prepare_and_build and fit_model at params' `cpu_threads`, and its test signals scored by the signal
task's scoring (snr_gain_db, group_rows: the classical filters tuned on the validation signals, the
least-squares bound, the guarded model). `--n` takes fewer signals, split the same way, where the
whole 100,000 do not fit the time at hand. Data lives in a temp folder. Reports the final validation
binary cross-entropy next to the notebook's (about 0.356) and the least any answer can reach on these
targets (their own entropy), and the test SNR gains. Writes DIR/notebook_experiment.{json,md} (DIR:
benchmarks/results).
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # publish

from publish import RESULTS, publish  # noqa: E402

MODEL = "signal_denoiser_seed"
NOTEBOOK_N = 100_000  # signals
NOTEBOOK_TEST_SHARE = 0.3  # the last 30 % of the signals; Keras then validates on the last 20 % of the rest
NOTEBOOK_VAL_BCE = 0.3556  # its reported validation loss after the fifth epoch
# -S overrides of `dvc exp run` for the notebook's experiment, also in params.yaml's comment above
# `signals:` (a test checks both say the same); the signal counts follow --n (sizes() below).
OVERRIDES = [
    "signals.families=[quadratic]",
    "signals.held_out_kinds=[]",
    "signals.noises=[{kind: gaussian, sigma: 0.05}]",
    "datasets.signals.split.train=0.8",
    "datasets.signals.split.val=0.2",
    f"train.{MODEL}.targets=pure_own_range",
]
NOTEBOOK_BLOCK = {"epochs": 5, "batch_size": 150, "lr": 1.0e-3, "max_norm": 2.0, "patience": 0,
                  "targets": "pure_own_range"}  # Keras' Adam default lr; no early stopping


def sizes(n: int) -> tuple[int, int]:
    """(training file, test file) signals for `n` in all: the notebook's floor((1 - 0.3) n) and the rest."""
    train = math.floor((1 - NOTEBOOK_TEST_SHARE) * n)
    return train, n - train


def overrides(n: int) -> list[str]:
    train, test = sizes(n)
    return [f"signals.n_per_family={train}", f"signals.n_test_per_family={test}", *OVERRIDES]


def dvc_command(n: int = NOTEBOOK_N) -> str:
    return f"dvc exp run evaluate@{MODEL} " + " ".join(f"-S '{o}'" for o in overrides(n))


def notebook_params(params_file: Path, n: int, tmp: Path) -> dict:
    """params.yaml with the overrides applied as `dvc exp run -S` applies them, validated as a stage
    loads them; ValueError where the seed model's block is not the notebook's."""
    from dvc.utils.hydra import apply_overrides

    from pipeline.config import load_params, model_params

    shutil.copy(params_file, tmp / "params.yaml")
    apply_overrides(tmp / "params.yaml", overrides(n))
    params = load_params(tmp / "params.yaml")
    block = model_params(params, MODEL)
    differing = {k: block[k] for k, v in NOTEBOOK_BLOCK.items() if block[k] != v}
    if differing:
        raise ValueError(f"train.{MODEL} differs from the notebook's {NOTEBOOK_BLOCK}: {differing}")
    return params


def bce_floor(targets: np.ndarray) -> float:
    """The least binary cross-entropy any answer can reach on these targets in [0, 1]: their mean
    binary entropy (the answer = the targets)."""
    t = np.clip(np.asarray(targets, np.float64), 1e-12, 1 - 1e-12)
    return float(np.mean(-(t * np.log(t) + (1 - t) * np.log(1 - t))))


def score(params_file: Path, n: int) -> dict:
    import torch

    from pipeline.cli import pin_cpu_threads
    from pipeline.generate_signals import generate
    from pipeline.registry import MODELS
    from pipeline.tasks.signals import denoise
    from pipeline.tasks.signals.guard import guarded_denoise, median_flag_fallback
    from pipeline.tasks.signals.scoring import group_rows, snr_gain_db
    from pipeline.train import fit_model, prepare_and_build

    spec = MODELS[MODEL]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        params = notebook_params(params_file, n, Path(tmp))
        pin_cpu_threads(params["cpu_threads"])  # as the stages run: the figures depend on the count
        generate(params, Path(tmp) / "signals")
        generated = time.perf_counter()
        prepared, model = prepare_and_build(spec, params, Path(tmp) / "signals")
    result = fit_model(spec, params, model, prepared, torch.device("cpu"))
    trained = time.perf_counter()

    model.eval()
    val, test = prepared.raw["val"], prepared.raw["test"]
    noisy, pure = test.noisy.astype(np.float64), test.pure
    with torch.no_grad():  # the answer on [0, 1], read back on each pure signal's own range (which no served answer knows)
        scaled = torch.cat([model.scaled(torch.from_numpy(np.array(test.noisy[i:i + 256])))
                            for i in range(0, len(test.noisy), 256)]).numpy()
    low, high = pure.min(-1, keepdims=True), pure.max(-1, keepdims=True)
    guarded = guarded_denoise(model, test.noisy)
    (row,) = group_rows(val, test, guarded, median_flag_fallback(test.noisy, guarded))  # one family x noise
    classical = ("moving_average", "savgol", "wiener", "fallback_filter")
    evaluated = time.perf_counter()
    return {
        "n_signals": n,
        "cpu_threads": params["cpu_threads"],
        "overrides": overrides(n),
        "split": {"train": len(prepared.train), "val": len(prepared.val), "test": len(prepared.test)},
        "validation": {
            "bce_per_epoch": [round(r["val_loss"], 5) for r in result.history],
            "final_bce": result.history[-1]["val_loss"],
            "notebook_bce": NOTEBOOK_VAL_BCE,
            "bce_floor": bce_floor(prepared.val.tensors[1].numpy()),
            "final_mse_raw": result.history[-1]["val_mse_raw"],
        },
        "test": {
            "group": row["group"],
            "net": snr_gain_db(noisy, pure, denoise(model, test.noisy)),
            "net_on_pure_range": snr_gain_db(noisy, pure, low + (high - low) * scaled),
            "guarded": row["model"],
            **{name: row[name] for name in classical},
            "best_classical": row["best_classical"],
            "ls_bound": row["ls_bound"],
        },
        "seconds": {"generate": round(generated - started, 1), "train": round(trained - generated, 1),
                    "evaluate": round(evaluated - trained, 1), "total": round(evaluated - started, 1)},
    }


def markdown(result: dict) -> str:
    n, v, t, s = result["n_signals"], result["validation"], result["test"], result["seconds"]
    split = result["split"]
    size = (f"{n:,} signals, the notebook's {NOTEBOOK_N:,}" if n == NOTEBOOK_N else
            f"**{n:,} signals, not the notebook's {NOTEBOOK_N:,}** (`--n {n}`: the whole run did not fit the time "
            f"at hand on this machine)")
    lines = [
        f"The signal notebook's experiment through the project's code: {size}, y = x² + Gaussian σ 0.05, "
        f"{split['train']:,} train / {split['val']:,} validation / {split['test']:,} test, the seed model with the "
        f"notebook's targets (`pure_own_range`), {len(v['bce_per_epoch'])} epochs, batch 150, "
        f"{result['cpu_threads']} CPU thread(s). The same run through DVC:",
        "",
        "```",
        dvc_command(n),
        "```",
        "",
        "| validation | binary cross-entropy |",
        "| --- | --- |",
        f"| final epoch | {v['final_bce']:.4f} |",
        f"| the notebook's (Keras) | ≈ {v['notebook_bce']:.4f} |",
        f"| least possible (the targets' own entropy) | {v['bce_floor']:.4f} |",
        "",
        f"Per epoch: {', '.join(f'{x:.4f}' for x in v['bce_per_epoch'])}.",
        "",
        f"| test SNR gain, dB ({t['group']}) | |",
        "| --- | --- |",
        f"| the seed network, its answer read back on the input's range (served) | {t['net']:+.2f} |",
        f"| the same answer read back on each pure signal's own range (known to no served answer) | "
        f"{t['net_on_pure_range']:+.2f} |",
        f"| the seed network behind the do-no-harm guard | {t['guarded']:+.2f} |",
        f"| moving average, tuned on validation | {t['moving_average']:+.2f} |",
        f"| Savitzky-Golay, tuned on validation | {t['savgol']:+.2f} |",
        f"| Wiener (scipy), tuned on validation | {t['wiener']:+.2f} |",
        f"| the guard's label-free fallback filter | {t['fallback_filter']:+.2f} |",
        f"| best classical filter | {t['best_classical']:+.2f} |",
        f"| least-squares projection onto {{1, x, x²}} (bound for an estimator knowing the family) | "
        f"{t['ls_bound']:+.2f} |",
        "",
        f"Seconds: generate {s['generate']}, train {s['train']}, evaluate {s['evaluate']}, total {s['total']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=NOTEBOOK_N, help="signals in all (the notebook's 100,000)")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = score(args.params, args.n)
    publish(args.out, "notebook_experiment", result, markdown(result))


if __name__ == "__main__":
    main()
