"""What a registered version ships and runs: its model's modules and the pipeline code they import."""
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline import bundle

REPO = Path(__file__).resolve().parents[2]


def names(files: list[Path], root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in files}


def test_a_version_ships_its_own_model_and_task_and_no_others():
    stock = names(bundle.model_code(REPO, "stock_rnn"), REPO)
    assert {"pipeline/serving.py", "pipeline/models/stock_rnn.py", "pipeline/tasks/stock/__init__.py",
            "pipeline/data/stock.py", "pipeline/tasks/__init__.py", "pipeline/__init__.py"} <= stock
    assert not any(name.startswith(("pipeline/tasks/signals", "pipeline/tasks/mnist", "pipeline/tasks/lotto"))
                   for name in stock)
    assert {"pipeline/registry.py", "pipeline/model_params.py", "pipeline/models/lotto_rnn.py"}.isdisjoint(stock)
    denoiser = names(bundle.model_code(REPO, "signal_denoiser"), REPO)
    assert {"pipeline/tasks/signals/guard.py", "pipeline/tasks/signals/scoring.py", "pipeline/tasks/signals/walk.py",
            "pipeline/models/signal_denoiser.py"} <= denoiser
    assert "pipeline/models/signal_denoiser_seed.py" not in denoiser


def test_the_closure_follows_relative_imports_inside_functions_and_the_packages_above(tmp_path):
    package = tmp_path / "pipeline"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .. import shared\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..late import g\n    import json\n")
    (package / "shared.py").write_text("")
    (package / "late.py").write_text("from pipeline import unused_name\n")
    (package / "other.py").write_text("")
    found = names(bundle.closure(tmp_path, ("pipeline.sub.leaf",)), tmp_path)
    assert found == {"pipeline/__init__.py", "pipeline/sub/__init__.py", "pipeline/sub/leaf.py",
                     "pipeline/shared.py", "pipeline/late.py"}


def test_an_edit_to_another_model_or_task_leaves_a_versions_digest_as_it_is(tmp_path):
    shutil.copytree(REPO / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    before = {m: bundle.digest(tmp_path, bundle.model_code(tmp_path, m)) for m in ("stock_rnn", "signal_denoiser")}
    guard = tmp_path / "pipeline" / "tasks" / "signals" / "guard.py"
    guard.write_text(guard.read_text() + "\n# an edit\n")
    after = {m: bundle.digest(tmp_path, bundle.model_code(tmp_path, m)) for m in ("stock_rnn", "signal_denoiser")}
    assert after["stock_rnn"] == before["stock_rnn"]
    assert after["signal_denoiser"] != before["signal_denoiser"]


def test_the_shipped_copy_alone_loads_its_model(tmp_path):
    """The copy a version ships imports and builds its model with no other pipeline code around."""
    package = bundle.copy_package(REPO, bundle.model_code(REPO, "stock_rnn"), tmp_path / "code")
    code = ("import sys, pipeline; from pipeline.serving import model_spec; spec = model_spec('stock_rnn'); "
            "assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__; "
            "net = spec.build({'hidden_size': 2, 'num_layers': 1, 'head_hidden': 3}, {'features': ['Open'], 'window': 4}); "
            "print(spec.registered_name, type(net).__name__, sorted(m for m in sys.modules if m.startswith('pipeline.models')))")
    done = subprocess.run([sys.executable, "-c", code, str(package)], cwd=package.parent, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(package.parent)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split(" ", 2)[:2] == ["stock-rnn", "StockRNN"]
    assert "'pipeline.models.stock_rnn'" in done.stdout and "lotto" not in done.stdout
