"""Hand-made mutants for `make mutate`: the bugs the mutation report must show caught that mutmut's
operators do not make as such (reversing a comparison, shuffling the windows, fitting on every
window, dropping one check of a conjunction). Each is a patch of one line, applied to a scratch copy
of the repository; the test named for it runs there, and the mutant counts as killed only when
that test fails on the patched copy and passes on the unpatched one: the table is measured."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("pipeline", "tests", "benchmarks", "pyproject.toml", "params.yaml")  # what the tests below read


@dataclass(frozen=True)
class HandMade:
    name: str
    what: str  # the bug it stands for
    file: str
    old: str  # a source text that occurs exactly once in `file`
    new: str
    test: str  # the pytest node id that must fail on the patched copy


HANDMADE = (
    HandMade("stock_gate_reversed", "stock gate `<` -> `>`: a model worse than persistence passes",
             "pipeline/tasks/stock/__init__.py", "passed = model < baseline", "passed = model > baseline",
             "tests/unit/test_gates.py::test_stock_gate_passes_a_model_just_below_persistence"),
    HandMade("stock_prepare_shuffles", "stock.prepare shuffles the windows before the chronological split",
             "pipeline/tasks/stock/__init__.py", "    parts = chronological_split(",
             "    windows = _subset(windows, np.random.default_rng(seed).permutation(len(windows.target)))\n"
             "    parts = chronological_split(",
             "tests/unit/test_stock_task.py::test_prepare_splits_the_windows_in_time_order"),
    HandMade("stock_scaler_fit_on_all", "the stock scaler is fitted on every window, not the training ones",
             "pipeline/tasks/stock/__init__.py", 'Scaler.fit(block["scaling"], train)', 'Scaler.fit(block["scaling"], windows)',
             "tests/unit/test_stock_task.py::test_train_max_scaling_is_fitted_on_the_training_windows_only"),
    HandMade("guard_blend_check_dropped", "the signal guard serves a blend without checking it",
             "pipeline/tasks/signals/guard.py",
             "np.where(acceptable(noisy, answer, noise) & acceptable(noisy, blend, noise), share, 1.0)",
             "np.where(acceptable(noisy, answer, noise), share, 1.0)",
             "tests/unit/signals/test_guard_checks.py::test_a_blend_whose_residual_is_structure_is_refused_for_the_fallback"),
    HandMade("fallback_takes_refused", "fallback_filter takes the lowest-SURE candidate even when it fails the check",
             "pipeline/tasks/signals/guard.py", "np.where(acceptable(noisy, outputs, noise), risk, np.inf)",
             "risk",
             "tests/unit/signals/test_guard_checks.py::test_the_fallback_refuses_a_lower_sure_candidate_whose_residual_is_signal"),
)


def _copy(to: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, to / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", "results"))
        else:
            shutil.copy2(src, to / name)


def _pytest(root: Path, tests: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=root, env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                                              "PYTHONPATH": str(root), "MLFLOW_DISABLE_TELEMETRY": "true"},
                          capture_output=True, text=True).returncode


def patched(source: str, mutant: HandMade) -> str:
    """`source` with the mutant's one change; refused unless its old text occurs exactly once."""
    if source.count(mutant.old) != 1:
        raise SystemExit(f"hand-made mutant {mutant.name}: {mutant.old!r} occurs {source.count(mutant.old)} "
                         f"times in {mutant.file}, expected once (update HANDMADE)")
    return source.replace(mutant.old, mutant.new)


def measure(mutants: tuple[HandMade, ...] = HANDMADE) -> list[dict]:
    """Each mutant's row with its status: killed (its test fails on the patched copy) or survived.
    Stops when a test fails on the unpatched copy: a kill would then prove nothing."""
    with tempfile.TemporaryDirectory(prefix="handmade-") as tmp:
        root = Path(tmp)
        _copy(root)
        tests = sorted({m.test for m in mutants})
        if _pytest(root, tests) != 0:
            raise SystemExit(f"hand-made mutants: a test fails on the unpatched copy: {' '.join(tests)}")
        rows = []
        for m in mutants:
            path = root / m.file
            original = path.read_text()
            path.write_text(patched(original, m))
            try:
                code = _pytest(root, [m.test])
            finally:
                path.write_text(original)
            if code not in (0, 1):
                raise SystemExit(f"hand-made mutant {m.name}: pytest exited {code} (not a test result)")
            rows.append({**asdict(m), "status": "killed" if code == 1 else "survived"})
            print(f"   hand-made {m.name}: {rows[-1]['status']}", flush=True)
        return rows


def render(rows: list[dict]) -> list[str]:
    """The report's section on the hand-made mutants."""
    out = ["## Hand-made mutants", "",
           "Bugs mutmut does not make as such, each a one-line patch applied to a scratch copy "
           "(benchmarks/mutation_handmade.py); killed: its test fails there and passes unpatched.", "",
           "| mutant | stands for | change | test | status |", "|---|---|---|---|---|"]
    for r in rows:
        change = f"`{r['old'].strip()}` -> `{' '.join(r['new'].split())}`".replace("|", "\\|")
        out.append(f"| {r['name']} | {r['what']} | {r['file']}: {change} | `{r['test']}` | {r['status']} |")
    return out + [""]


def recheck(survivors: dict[str, list[str]], tests: dict[str, list[str]]) -> dict[str, str]:
    """mutmut's survivors (group -> mutant names) tested again at the code checked out now: each
    mutant is built into a scratch copy (mutmut's own apply, from mutants/) and its group's tests
    run there. For the tests written after a run to kill what it left: mutant name -> "killed" or
    "survived". Stops when a group's tests fail on the unpatched copy."""
    from mutmut.mutation.diff_apply import apply_mutant

    status: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="recheck-") as tmp:
        root = Path(tmp)
        _copy(root)
        for name in ("mutants", "data"):
            (root / name).symlink_to(ROOT / name)
        cwd = Path.cwd()
        try:
            for group, names in survivors.items():
                if names and _pytest(root, tests[group]) != 0:
                    raise SystemExit(f"recheck: {group}'s tests fail on the unpatched copy")
                for name in names:
                    path = root / _source_of(name)
                    original = path.read_text()
                    os.chdir(root)
                    try:
                        apply_mutant(name)
                        code = _pytest(root, tests[group])
                    finally:
                        os.chdir(cwd)
                        path.write_text(original)
                    if code not in (0, 1):
                        raise SystemExit(f"recheck of {name}: pytest exited {code} (not a test result)")
                    status[name] = "killed" if code == 1 else "survived"
                    print(f"   recheck {name}: {status[name]}", flush=True)
        finally:
            os.chdir(cwd)
    return status


def _source_of(mutant: str) -> str:
    import mutation

    return mutation.source_file(mutant)
