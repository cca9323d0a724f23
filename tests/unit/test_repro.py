"""pipeline.repro: which stages run first, the order of the chains, and chains side by side (a stand-in
`dvc` on PATH; the real one runs in the end-to-end build, tests/conftest.py)."""
import json
import os

import pytest

from pipeline import repro
from pipeline.errors import PipelineError

# two models on one dataset, one on another; a report stage needs them all
GRAPH = {
    "ingest_a": set(),
    "ingest_b": set(),
    "train@a1": {"ingest_a"},
    "train@a2": {"ingest_a"},
    "train@b": {"ingest_b"},
    "evaluate@a1": {"train@a1", "ingest_a"},
    "evaluate@a2": {"train@a2", "ingest_a"},
    "evaluate@b": {"train@b", "ingest_b"},
    "report": {"evaluate@a1", "evaluate@a2", "evaluate@b"},
}


def test_upstream_lists_every_dependency_before_its_dependents():
    assert repro.upstream(GRAPH, "evaluate@b") == ["ingest_b", "train@b", "evaluate@b"]
    report = repro.upstream(GRAPH, "report")
    assert sorted(report) == sorted(GRAPH)
    assert all(report.index(dep) < report.index(stage) for stage in GRAPH for dep in GRAPH[stage])


def test_only_stages_two_chains_need_run_first():
    chains = [repro.upstream(GRAPH, head) for head in ["evaluate@a1", "evaluate@a2", "evaluate@b"]]
    assert repro.shared_stages(chains) == ["ingest_a"]
    assert repro.shared_stages(chains[2:]) == []


def test_a_model_without_its_stage_is_named():
    assert repro.chain_heads(GRAPH, ["a1", "b"]) == {"a1": "evaluate@a1", "b": "evaluate@b"}
    with pytest.raises(PipelineError, match="no stage evaluate@c"):
        repro.chain_heads(GRAPH, ["a1", "c"])


def test_chains_start_longest_first_after_those_never_timed():
    assert repro.longest_first(["fast", "new", "slow", "other"], {"fast": 5.0, "slow": 90.0}) == \
        ["new", "other", "slow", "fast"]


def test_recorded_train_seconds_skips_missing_and_broken_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics" / "train").mkdir(parents=True)
    (tmp_path / "metrics" / "train" / "a.json").write_text(json.dumps({"train_seconds": 12.5}))
    (tmp_path / "metrics" / "train" / "b.json").write_text("{not json")
    assert repro.recorded_train_seconds(["a", "b", "c"]) == {"a": 12.5}


def test_default_jobs_leaves_no_core_oversubscribed():
    cores = len(os.sched_getaffinity(0))
    assert repro.default_jobs(1) == cores
    assert repro.default_jobs(cores + 1) == 1


@pytest.fixture
def fake_dvc(tmp_path, monkeypatch):
    """A `dvc` that notes, under its last argument's name, how many others were running when it
    started; waits until as many as the file `together` says (default 1) have started; works 1 s;
    prints a line; and fails for evaluate@bad. The wait is an event (another start), not a time, and
    gives up after 60 s, which only a scheduler that never runs two at once would reach."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    for folder in (bin_dir, log, tmp_path / "running", tmp_path / "started"):
        folder.mkdir()
    script = bin_dir / "dvc"
    script.write_text(f"""#!/bin/sh
for target; do :; done
cd "{tmp_path}"
touch "running/$target"
others=$(ls running | grep -cvx "$target")
touch "started/$target"
together=$(cat together 2>/dev/null || echo 1)
tries=0
while [ "$(ls started | wc -l)" -lt "$together" ] && [ $tries -lt 600 ]; do sleep 0.1; tries=$((tries + 1)); done
sleep 1
echo "Running stage '$target':"
echo "$others" > "log/$target"
rm "running/$target"
[ "$target" != evaluate@bad ]
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_chains_run_side_by_side_with_their_lines_prefixed(fake_dvc, capsys):
    (fake_dvc.parent / "together").write_text("2")  # the first two wait for each other
    chains = {m: [f"train@{m}", f"evaluate@{m}"] for m in "abc"}
    seconds = repro.run_chains(chains, jobs=2, printer=repro.LinePrinter())
    others = {m: int((fake_dvc / f"evaluate@{m}").read_text()) for m in "abc"}
    assert max(others["a"], others["b"]) == 1  # a and b overlapped: one saw the other running
    assert others["c"] <= 1  # c waited for a free job: never three at once
    assert set(seconds) == {"a", "b", "c"} and min(seconds.values()) >= 1
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == ["[a] Running stage 'evaluate@a':", "[b] Running stage 'evaluate@b':",
                           "[c] Running stage 'evaluate@c':"]


def test_a_failed_chain_is_named_and_no_new_chain_starts(fake_dvc):
    with pytest.raises(PipelineError, match="stages of bad failed"):
        repro.run_chains({m: [f"evaluate@{m}"] for m in ("bad", "later")}, jobs=1, printer=repro.LinePrinter())
    assert not (fake_dvc / "evaluate@later").exists()
