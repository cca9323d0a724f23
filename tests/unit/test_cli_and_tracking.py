"""Stage entry points fail with one line and no output; tracking finds the right store."""
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from pipeline import tracking
from pipeline.bundle import digest
from pipeline.register import CANDIDATE, CHAMPION, decide, existing_version, rival_champion
from pipeline.tasks import Verdict

REPO = Path(__file__).resolve().parents[2]


def run_stage(args, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.fixture
def params_file(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path, params


def test_bad_data_file_exits_2_with_one_line_and_writes_nothing(tmp_path, params_file):
    path, params = params_file
    bad = tmp_path / "prices.csv"
    bad.write_text("Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1\n2020-01-02,1,2,0.5,1\n")
    params["ingest"]["stock"]["file"] = str(bad)
    path.write_text(yaml.safe_dump(params))
    result = run_stage(["pipeline.ingest", "stock", "--params", str(path)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {bad}: line 3: duplicated date 2020-01-02 (after 2020-01-02); "
                                     "dates must be strictly ascending")
    assert not (tmp_path / "data").exists()


def test_bad_param_exits_2_naming_the_key(tmp_path, params_file):
    path, params = params_file
    params["train"]["stock_rnn"]["epochs"] = -1
    path.write_text(yaml.safe_dump(params))
    result = run_stage(["pipeline.train", "stock_rnn", "--params", str(path)], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: params: train.stock_rnn.epochs: -1 is out of range; allowed >= 1 and <= 100000"


def test_unknown_model_is_named(tmp_path, params_file):
    path, _ = params_file
    result = run_stage(["pipeline.train", "stock_lstm", "--params", str(path)], tmp_path)
    assert result.returncode == 2
    assert "unknown model 'stock_lstm'; known models: stock_rnn" in result.stderr


def test_help_lists_stages_and_models():
    result = run_stage(["pipeline", "--help"], REPO)
    assert result.returncode == 0
    for word in ("ingest", "train", "evaluate", "register", "serve", "stock_rnn"):
        assert word in result.stdout


SIGNAL_SCRIPT = (
    "import os, signal\n"
    "from pipeline.cli import main_wrapper, tracking_write\n"
    "@main_wrapper\n"
    "def main(argv=None):\n"
    "    with tracking_write():\n"
    "        os.kill(os.getpid(), SIGNUM)\n"
    "        print('write finished', flush=True)\n"
    "    print('after the write', flush=True)\n"
    "try:\n"
    "    main()\n"
    "except KeyboardInterrupt:\n"
    "    print('KeyboardInterrupt', flush=True)\n"
)


def run_signalled(signum: int, inside_write: bool, sigint: signal.Handlers) -> subprocess.CompletedProcess:
    """The stage above, sending itself `signum` inside or outside a tracking write, started with
    SIGINT at `sigint` whatever this process has (`nohup` or `trap '' INT` leave SIG_IGN to children)."""
    script = SIGNAL_SCRIPT.replace("SIGNUM", str(int(signum)))
    if not inside_write:
        script = script.replace("    with tracking_write():\n        os.kill", "    if True:\n        os.kill")
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


@pytest.mark.parametrize("signum, stopped_by", [(signal.SIGTERM, "exit 143"), (signal.SIGINT, "KeyboardInterrupt")])
def test_a_signal_during_a_tracking_write_takes_effect_when_the_write_ends(signum, stopped_by):
    """A stage stops on SIGTERM (exit 143) or Ctrl-C (KeyboardInterrupt), `with` blocks unwound, but
    not inside a tracking-store write, which it would leave holding the store's lock: there the
    signal waits for the block's end."""
    for inside_write, before in ((True, "write finished\n"), (False, "")):
        result = run_signalled(signum, inside_write, signal.SIG_DFL)
        if stopped_by == "exit 143":
            assert result.returncode == 143 and result.stdout == before, result.stderr
        else:
            assert result.returncode == 0 and result.stdout == before + "KeyboardInterrupt\n", result.stderr


@pytest.mark.parametrize("inside_write", [True, False])
def test_a_stage_started_with_ctrl_c_ignored_keeps_ignoring_it(inside_write):
    """Started in the background (`nohup`, `cmd &` in a script), a stage inherits SIGINT ignored and
    leaves it so, as any program does: Ctrl-C meant for the foreground does not stop it."""
    result = run_signalled(signal.SIGINT, inside_write, signal.SIG_IGN)
    assert result.returncode == 0 and result.stdout == "write finished\nafter the write\n", result.stderr


def test_default_store_is_sqlite_inside_the_repo(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{REPO / 'mlflow.db'}"
    assert Path(tracking.tracking_uri().removeprefix("sqlite:///")).is_absolute()


def test_user_tracking_uri_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"


def test_dvc_temp_experiments_log_to_the_real_repo(monkeypatch, tmp_path):
    fake = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpabc123" / "pipeline" / "tracking.py"
    monkeypatch.setattr(tracking, "__file__", str(fake))
    assert tracking.project_root() == tmp_path / "repo"


def test_flatten_nested_params():
    assert tracking.flatten({"split": {"train": 0.7, "val": 0.1}, "features": ["Open", "Low"], "lr": 1e-3}) == {
        "split.train": 0.7, "split.val": 0.1, "features": "Open,Low", "lr": 1e-3}


@pytest.mark.parametrize(
    "passed, score, champion, alias, fragment",
    [
        (False, 10.0, None, CANDIDATE, "gate failed"),
        (True, 10.0, None, CHAMPION, "gate passed"),
        (True, 10.0, 12.0, CHAMPION, "gate passed"),
        (True, 12.0, 10.0, CANDIDATE, "does not beat the champion"),
        (True, 10.0, 10.0, CANDIDATE, "does not beat the champion"),
        (False, 5.0, 10.0, CANDIDATE, "gate failed"),
    ],
)
def test_gate_moves_champion_only_for_a_better_passing_model(passed, score, champion, alias, fragment):
    verdict = Verdict(passed=passed, score=score, score_name="test_rmse", reason="r")
    got, reason = decide(verdict, champion)
    assert got == alias and fragment in reason


@pytest.mark.parametrize("uri, shown", [
    ("postgresql+psycopg2://mlflow:s3cret@127.0.0.1:5432/mlflow", "postgresql+psycopg2://mlflow:***@127.0.0.1:5432/mlflow"),
    ("https://user:p%40ss@mlflow.example.com", "https://user:***@mlflow.example.com"),
    ("sqlite:////repo/mlflow.db", "sqlite:////repo/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_printed_tracking_uris_never_show_a_password(uri, shown):
    assert tracking.display_uri(uri) == shown


def test_serve_binds_loopback_unless_told_otherwise_and_uses_this_environment():
    from pipeline.serve import serve_command

    command = serve_command("models:/stock-rnn@champion", "127.0.0.1", 5001, 1)
    assert command[command.index("--env-manager") + 1] == "local"  # no virtualenv built from the network
    result = subprocess.run([sys.executable, "-m", "pipeline.serve", "--help"], capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert "default 127.0.0.1: loopback only" in result.stdout


def test_write_table_keeps_every_column_of_any_row(tmp_path):
    """A training history whose refine epochs add columns: one header with all of them, blanks
    where a row has none."""
    from pipeline.plots import write_table

    write_table(tmp_path / "loss.csv", [{"epoch": 1, "val_loss": 0.5},
                                        {"epoch": 2, "val_loss": 0.4, "refine_val_loss": 0.9}])
    assert (tmp_path / "loss.csv").read_text().splitlines() == [
        "epoch,val_loss,refine_val_loss", "1,0.5,", "2,0.4,0.9"]


def test_a_version_is_reused_only_for_the_same_checkpoint_serving_code_and_serve_config(tmp_path):
    """Serving code is bundled into each version: a new guard must reach the registry even when the
    checkpoint is the same; so must a new request limit (the version's model config)."""
    guard = tmp_path / "pipeline" / "guard.py"
    guard.parent.mkdir()
    guard.write_text("LIMIT = 1\n")
    before = digest(tmp_path, [guard])
    guard.write_text("LIMIT = 2\n")
    after = digest(tmp_path, [guard])
    assert after != before

    class Client:
        def search_model_versions(self, query):
            assert query == "name='m'"
            return [SimpleNamespace(version="1", tags={"checkpoint_md5": "abc", "code_digest": before,
                                                       "serve_config": '{"max_request_values": 9}'})]

    assert existing_version(Client(), "m", "abc", before, '{"max_request_values": 9}').version == "1"
    assert existing_version(Client(), "m", "abc", after, '{"max_request_values": 9}') is None
    assert existing_version(Client(), "m", "abd", before, '{"max_request_values": 9}') is None
    assert existing_version(Client(), "m", "abc", before, '{"max_request_values": 10}') is None


def test_new_serving_code_for_the_champions_checkpoint_is_not_measured_against_itself():
    champion = SimpleNamespace(version="3", tags={"checkpoint_md5": "abc", "gate_score": "-1.0"})
    assert rival_champion(champion, "abc") is None  # same model, newer code: it may take the alias
    assert rival_champion(champion, "abd") is champion
    assert rival_champion(None, "abc") is None
