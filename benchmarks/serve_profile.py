"""Where a served request's time goes, in process (cProfile), in two parts:

- every registered model and the identity pyfunc: one one-item request through MLflow's own
  `invocations()` (what `mlflow models serve` runs per request, without the HTTP): parsing the
  JSON body, the pyfunc's predict, and encoding the answer as JSON;
- the signal denoiser's predict step by step at batch 1 and 256 on 150-point signals: the functions
  `guarded_denoise` calls (pipeline/tasks/signals/guard.py) and the network passes within them.

    python benchmarks/serve_profile.py [--model signal-denoiser] [--repeats 30]

Writes benchmarks/results/serve_profile.{json,md}.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import tempfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import tracking  # noqa: E402
from pipeline.cli import SERVE_THREADS_ENV  # noqa: E402
from pipeline.data.signals import generate_signals  # noqa: E402
from pipeline.registry import MODELS  # noqa: E402
from pipeline.serve import TORCH_THREADS_PER_WORKER, resolve_model_uri  # noqa: E402
from publish import publish  # noqa: E402
from serve import BATCHED, batch_body, identity_model, serving_example  # noqa: E402

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


# (label, module file suffix, function name): the parts of one request inside the server
PARTS = (
    ("parse the JSON body", "scoring_server/__init__.py", "_parse_json_data"),
    ("predict", "mlflow/pyfunc/__init__.py", "predict"),
    ("encode the answer as JSON", "scoring_server/__init__.py", "predictions_to_json"),
)


def cumulative_ms(stats: dict, suffix: str, name: str, repeats: int) -> float:
    return sum(v[3] for k, v in stats.items() if k[0].endswith(suffix) and k[2] == name) / repeats * 1000


def timed_and_profiled(call, warmup: int, repeats: int) -> tuple[float, dict]:
    """`call()` run `warmup` times, then `repeats` times timed (ms per call), then `repeats` times under
    cProfile: (ms per call, the profile's stats {(file, line, name): (cc, nc, tottime, cumtime, callers)})."""
    for _ in range(warmup):
        call()
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    total_ms = (time.perf_counter() - started) / repeats * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        call()
    profiler.disable()
    return total_ms, pstats.Stats(profiler).stats


def invocation(model, body: str, repeats: int) -> dict:
    """One request through MLflow's invocations(): ms in all and per part (parse, predict, encode)."""
    from mlflow.pyfunc.scoring_server import invocations

    schema = model.metadata.get_input_schema()
    total_ms, stats = timed_and_profiled(lambda: invocations(body, "application/json", model, schema), 10, repeats)
    profiled = cumulative_ms(stats, "scoring_server/__init__.py", "invocations", repeats)
    return {"ms": round(total_ms, 3), **{label: round(cumulative_ms(stats, suffix, name, repeats) / profiled, 3)
                                          for label, suffix, name in PARTS}}


def invocations_of_every_model(repeats: int) -> list[dict]:
    """Each registered model's one-item request, and the identity pyfunc's with the same body."""
    mlflow = tracking.mlflow()
    identity = mlflow.pyfunc.load_model(str(identity_model(Path(tempfile.mkdtemp(prefix="identity-")) / "m")))
    rows = []
    for spec in MODELS.values():
        uri, _ = resolve_model_uri(spec.registered_name)
        example = serving_example(uri)
        body = json.dumps(batch_body(example, 1) if spec.dataset in BATCHED else example)
        model = invocation(mlflow.pyfunc.load_model(uri), body, repeats)
        ceiling = invocation(identity, body, repeats)
        rows.append({"model": spec.registered_name, **model, "identity_ms": ceiling["ms"],
                     "identity_encode": ceiling[PARTS[2][0]], "vs_identity": round(ceiling["ms"] / model["ms"], 2)})
    return rows


def signals(batch: int) -> np.ndarray:
    """`batch` noisy 150-point test-like signals, families and noises mixed."""
    s = generate_signals(batch, ["sine", "steps", "chirp", "random_walk"],
                         [{"kind": "relative", "sigma": 0.05}, {"kind": "spikes", "rate": 0.02, "level": 1.0}], seed=7)
    return s.noisy[np.linspace(0, len(s.noisy) - 1, batch).astype(int)]


def profile(model, batch: int, repeats: int) -> dict:
    x = signals(batch)
    total_ms, stats = timed_and_profiled(lambda: model.predict(None, x), 3, repeats)
    profiled_ms = max(v[3] for k, v in stats.items() if k[2] == "predict") / repeats * 1000
    steps = []
    for label, suffix, name in STEPS:
        ms = cumulative_ms(stats, suffix, name, repeats)
        steps.append({"step": label, "ms_per_request": round(ms, 2), "share": round(ms / profiled_ms, 3)})
    return {"batch": batch, "ms_per_request": round(total_ms, 2), "signals_per_s": round(batch / total_ms * 1000, 1),
            "profiled_ms_per_request": round(profiled_ms, 2), "steps": steps}


def table(requests: list[dict], runs: list[dict]) -> str:
    lines = ["One one-item request inside the server (MLflow's `invocations()`, no HTTP): ms in all, and the "
             "share of each part under the profiler; the identity pyfunc with the same body beside it.", "",
             "| served model | ms | parse | predict | encode answer | identity ms | identity: encode | "
             "identity ms / model ms |", "| --- " * 8 + "|"]
    lines += [f"| {r['model']} | {r['ms']} | {r[PARTS[0][0]]:.0%} | {r[PARTS[1][0]]:.0%} | {r[PARTS[2][0]]:.0%} | "
              f"{r['identity_ms']} | {r['identity_encode']:.0%} | {r['vs_identity']} |" for r in requests]
    lines += ["", f"The signal denoiser's predict, step by step:", ""]
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
    os.environ.setdefault(SERVE_THREADS_ENV, str(TORCH_THREADS_PER_WORKER))  # as a server worker runs
    uri, _ = resolve_model_uri(args.model)
    model = tracking.mlflow().pyfunc.load_model(uri).unwrap_python_model()
    runs = [profile(model, batch, max(3, args.repeats // (1 if batch == 1 else 10))) for batch in (1, 256)]
    requests = invocations_of_every_model(args.repeats * 10)
    publish(RESULTS, "serve_profile", {"model": args.model, "uri": uri, "requests": requests, "runs": runs},
            f"In process, one thread; the signal denoiser is `{args.model}` ({uri}), on 150-point signals.\n\n"
            f"{table(requests, runs)}")


if __name__ == "__main__":
    main()
