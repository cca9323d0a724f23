"""Whether a change kept the pipeline's outputs: weights, headline metrics and gate verdicts of two runs.

    python benchmarks/compare_outputs.py snapshot OUT.json [--root .]   # after a `make repro`
    python benchmarks/compare_outputs.py compare BEFORE.json AFTER.json [--tolerance 1e-6]

A snapshot holds, per model in params.yaml, the md5 of models/<model>/model.pt and of each weight
tensor in it, every number of metrics/eval/<model>.json, and the gate's verdict (passed, score)
from the task's own gate. `compare` prints one line per model: weights byte-identical, or tensor
for tensor identical, or which differ; metrics equal within the tolerance (relative to the value,
absolute below 1), or which moved, and metric names present on one side only; verdicts equal.
It exits 1 when any weight, common metric or verdict differs (a renamed metric is reported, not
failed: compare the renamed figure by hand).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def snapshot(root: Path) -> dict:
    import torch

    from pipeline import paths
    from pipeline.config import load_params
    from pipeline.registry import get_model

    cwd = Path.cwd()
    os.chdir(root)
    try:
        params = load_params(root / "params.yaml")
        models = {}
        for name in params["train"]:
            checkpoint = paths.checkpoint(name)
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
            metrics = json.loads(paths.eval_metrics(name).read_text())
            verdict = get_model(name).task.gate(metrics)
            models[name] = {
                "checkpoint_md5": hashlib.md5(checkpoint.read_bytes()).hexdigest(),
                "tensors": {k: hashlib.md5(v.contiguous().numpy().tobytes()).hexdigest() for k, v in state.items()},
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                "verdict": {"passed": verdict.passed, "score": verdict.score},
            }
        return models
    finally:
        os.chdir(cwd)


def close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def compare(before: dict, after: dict, tolerance: float) -> tuple[list[str], bool]:
    """(report lines, whether everything compared is the same)."""
    lines, same = [], True
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            lines.append(f"{name}: only in {'after' if name in after else 'before'}")
            same = False
            continue
        b, a = before[name], after[name]
        if b["checkpoint_md5"] == a["checkpoint_md5"]:
            weights = "weights byte-identical"
        elif b["tensors"] == a["tensors"]:
            weights = "weights identical tensor for tensor (file bytes differ)"
        else:
            moved = sorted(k for k in set(b["tensors"]) | set(a["tensors"]) if b["tensors"].get(k) != a["tensors"].get(k))
            weights = f"WEIGHTS DIFFER: {', '.join(moved[:5])}{' ...' if len(moved) > 5 else ''}"
            same = False
        common = set(b["metrics"]) & set(a["metrics"])
        moved = sorted(k for k in common if not close(b["metrics"][k], a["metrics"][k], tolerance))
        metrics = (f"{len(common)} common metrics within {tolerance:g}" if not moved else
                   f"METRICS MOVED: " + ", ".join(f"{k} {b['metrics'][k]:.9g} -> {a['metrics'][k]:.9g}" for k in moved[:5]))
        same &= not moved
        only = (f"; {len(set(b['metrics']) - common)} only before, {len(set(a['metrics']) - common)} only after"
                if set(b["metrics"]) != set(a["metrics"]) else "")
        verdict_same = (b["verdict"]["passed"] == a["verdict"]["passed"]
                        and close(b["verdict"]["score"], a["verdict"]["score"], tolerance))
        same &= verdict_same
        verdict = "verdict same" if verdict_same else f"VERDICT DIFFERS: {b['verdict']} -> {a['verdict']}"
        lines.append(f"{name}: {weights}; {metrics}{only}; {verdict}")
    return lines, same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="record a run's outputs")
    snap.add_argument("out", type=Path)
    snap.add_argument("--root", type=Path, default=Path.cwd())
    comp = sub.add_parser("compare", help="compare two snapshots")
    comp.add_argument("before", type=Path)
    comp.add_argument("after", type=Path)
    comp.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        from pipeline.io import write_text

        write_text(args.out, json.dumps(snapshot(args.root.resolve()), indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.out}")
        return 0
    lines, same = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()), args.tolerance)
    print("\n".join(lines))
    print("same outputs" if same else "OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
