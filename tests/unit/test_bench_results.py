"""Committed benchmark figures come from committed code: every results file names the commit it
measured, that commit is in HEAD's history, and its keys are the ones its script writes
(benchmarks/publish.py SCHEMAS). The provenance itself is checked in a scratch git repository."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from publish import provenance, provenance_line, publish, schema_for, schema_problem  # noqa: E402

RESULTS = sorted((REPO / "benchmarks" / "results").glob("*.json"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def in_git_checkout() -> bool:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode == 0


def test_there_are_results_files():
    assert len(RESULTS) >= 8


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_results_file_keys_match_its_script(path):
    result = json.loads(path.read_text())
    assert schema_problem(path.stem, result) is None


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_results_file_was_measured_on_a_commit_in_heads_history(path):
    if not in_git_checkout():
        pytest.skip("not a git checkout: no history to check the recorded commit against")
    prov = json.loads(path.read_text()).get("provenance")
    assert prov, f"{path.name}: no provenance (re-run {schema_for(path.stem).script})"
    assert not prov["dirty"], f"{path.name}: measured with uncommitted changes to tracked files"
    assert prov["script"] == schema_for(path.stem).script
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", prov["commit"], "HEAD"], cwd=REPO,
                              capture_output=True)
    assert ancestor.returncode == 0, f"{path.name}: commit {prov['commit']} is not an ancestor of HEAD"
    table = path.with_suffix(".md")
    if table.exists():  # the table says where its figures come from, as the JSON does
        assert table.read_text().splitlines()[0] == provenance_line(prov)


def test_unknown_or_missing_keys_are_named():
    assert schema_problem("known_noise", {"groups": [], "totals": {}}) is None
    assert schema_problem("known_noise", {"groups": []}) == (
        "known_noise.json: keys do not match what benchmarks/denoiser/known_noise.py writes (missing: totals; unknown: -)")
    assert schema_problem("soak_stock-rnn", {"date": "x"}).endswith("unknown: date)")
    assert schema_problem("results", {}) is not None  # optional sections, but at least one
    assert schema_problem("results", {"serve": []}) is None
    with pytest.raises(KeyError, match="no schema"):
        schema_for("mystery")


@pytest.fixture
def scratch_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    (repo / "code.py").write_text("x = 1\n")
    (repo / "benchmarks" / "results" / "old.json").write_text("{}\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


def test_provenance_names_the_commit_and_only_code_changes_make_it_dirty(scratch_repo):
    head = git(scratch_repo, "rev-parse", "HEAD")
    prov = provenance("benchmarks/denoiser/known_noise.py", scratch_repo)
    assert prov["commit"] == head and prov["dirty"] is False
    (scratch_repo / "benchmarks" / "results" / "old.json").write_text("{\"new\": 1}\n")  # results: still clean
    (scratch_repo / "untracked.py").write_text("")
    assert provenance("s", scratch_repo)["dirty"] is False
    (scratch_repo / "code.py").write_text("x = 2\n")
    assert provenance("s", scratch_repo)["dirty"] is True


def test_publish_writes_provenance_and_refuses_wrong_keys(tmp_path):
    publish(tmp_path, "known_noise", {"groups": [1], "totals": {"a": 2}}, "| a |\n", quiet=True)
    written = json.loads((tmp_path / "known_noise.json").read_text())
    assert written["groups"] == [1] and written["provenance"]["script"] == "benchmarks/denoiser/known_noise.py"
    lines = (tmp_path / "known_noise.md").read_text().splitlines()
    assert lines[0] == provenance_line(written["provenance"]) and lines[2] == "| a |"
    with pytest.raises(ValueError, match="missing: totals"):
        publish(tmp_path, "known_noise", {"groups": []}, quiet=True)


def test_committed_dvc_metrics_files_stay_readable():
    """The results files dvc.yaml declares as metrics (`dvc metrics show` lists them beside the
    stages') hold at most MAX_METRICS values, as every stage's metrics file does."""
    import yaml

    from pipeline.tasks import MAX_METRICS, metrics_file_values

    declared = yaml.safe_load((REPO / "dvc.yaml").read_text()).get("metrics", [])
    assert declared
    for name in declared:
        count = metrics_file_values(json.loads((REPO / name).read_text()))
        assert count <= MAX_METRICS, f"{name}: {count} values"
