"""Where the served signal denoiser's time goes: its pyfunc's predict, in process, profiled step by
step (cProfile) at batch 1 and 256 on 150-point signals, each step's milliseconds per request and
share of the whole.

    python benchmarks/serve_profile.py [--model signal-denoiser] [--repeats 30]

Writes benchmarks/results/serve_profile.{json,md}. The steps are the functions `guarded_denoise`
calls (pipeline/tasks/signals/guard.py) and the network passes within them.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import tracking  # noqa: E402
from pipeline.data.signals import generate_signals  # noqa: E402
from pipeline.serve import resolve_model_uri  # noqa: E402
from publish import publish  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
# (label, module file suffix, function name): the steps of one request, in the order they run
STEPS = (
    ("request checks and scaling", "signals/scoring.py", "unit_range"),
    ("noise estimate", "signals/filters.py", "estimate_noise"),
    ("glitch check (network, flagged signals only)", "signals/guard.py", "confirm_glitches"),
    ("network: signals and divergence probes, one pass", "signals/guard.py", "net_and_divergence"),
    ("polynomial expert", "signals/guard.py", "prefer_trend"),
    ("classical fallback (every candidate)", "signals/guard.py", "fallback_filter"),
    ("blend share (SURE)", "signals/guard.py", "fallback_share"),
    ("residual checks", "signals/guard.py", "acceptable"),
    ("random-walk check and smoother", "signals/walk.py", "walk_fit"),
)


def signals(batch: int) -> np.ndarray:
    """`batch` noisy 150-point test-like signals, families and noises mixed."""
    s = generate_signals(batch, ["sine", "steps", "chirp", "random_walk"],
                         [{"kind": "relative", "sigma": 0.05}, {"kind": "spikes", "rate": 0.02, "level": 1.0}], seed=7)
    return s.noisy[np.linspace(0, len(s.noisy) - 1, batch).astype(int)]


def profile(model, batch: int, repeats: int) -> dict:
    x = signals(batch)
    for _ in range(3):
        model.predict(None, x)
    started = time.perf_counter()
    for _ in range(repeats):
        model.predict(None, x)
    total_ms = (time.perf_counter() - started) / repeats * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        model.predict(None, x)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    profiled_ms = max(v[3] for k, v in stats.items() if k[2] == "predict") / repeats * 1000
    steps = []
    for label, suffix, name in STEPS:
        cumulative = sum(v[3] for k, v in stats.items() if k[0].endswith(suffix) and k[2] == name)
        ms = cumulative / repeats * 1000
        steps.append({"step": label, "ms_per_request": round(ms, 2), "share": round(ms / profiled_ms, 3)})
    return {"batch": batch, "ms_per_request": round(total_ms, 2), "signals_per_s": round(batch / total_ms * 1000, 1),
            "profiled_ms_per_request": round(profiled_ms, 2), "steps": steps}


def table(runs: list[dict]) -> str:
    lines = []
    for run in runs:
        lines += [f"Batch {run['batch']}: {run['ms_per_request']} ms per request ({run['signals_per_s']} signals/s); "
                  f"under the profiler {run['profiled_ms_per_request']} ms, split as below (steps may nest: the "
                  "glitch check and the expert call the residual checks).", "",
                  "| step | ms per request | share |", "| --- | --- | --- |",
                  *(f"| {s['step']} | {s['ms_per_request']} | {s['share']:.0%} |" for s in run["steps"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="signal-denoiser")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    uri, _ = resolve_model_uri(args.model)
    model = tracking.mlflow().pyfunc.load_model(uri).unwrap_python_model()
    runs = [profile(model, batch, max(3, args.repeats // (1 if batch == 1 else 10))) for batch in (1, 256)]
    publish(RESULTS, "serve_profile", {"model": args.model, "uri": uri, "runs": runs},
            f"`{args.model}` ({uri}), in process, 150-point signals.\n\n{table(runs)}")


if __name__ == "__main__":
    main()
