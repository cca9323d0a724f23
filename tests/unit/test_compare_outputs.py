"""The before/after check a refactor proves itself with: which differences in weights, metrics
and verdicts it reports, and which it lets through."""
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compare_outputs import compare  # noqa: E402

RUN = {"stock_rnn": {"checkpoint_md5": "a", "tensors": {"w": "1", "b": "2"},
                     "metrics": {"test_rmse": 12.5, "baseline_persistence_test_rmse": 12.6},
                     "verdict": {"passed": True, "score": 12.5}}}


def test_identical_runs_are_the_same():
    lines, same = compare(RUN, copy.deepcopy(RUN), 1e-6)
    assert same and lines == ["stock_rnn: weights byte-identical; 2 common metrics within 1e-06; verdict same"]


def test_same_tensors_in_other_file_bytes_pass():
    after = copy.deepcopy(RUN)
    after["stock_rnn"]["checkpoint_md5"] = "other"
    lines, same = compare(RUN, after, 1e-6)
    assert same and "identical tensor for tensor" in lines[0]


def test_a_moved_weight_a_moved_metric_and_a_flipped_verdict_each_fail():
    for change in (lambda m: m["tensors"].update(w="9"),
                   lambda m: m["metrics"].update(test_rmse=12.5 * (1 + 2e-6)),
                   lambda m: m["verdict"].update(passed=False)):
        after = copy.deepcopy(RUN)
        after["stock_rnn"]["checkpoint_md5"] = "other"
        change(after["stock_rnn"])
        assert compare(RUN, after, 1e-6)[1] is False


def test_within_tolerance_and_renamed_metrics_are_reported_not_failed():
    after = copy.deepcopy(RUN)
    after["stock_rnn"]["metrics"]["test_rmse"] = 12.5 * (1 + 5e-7)
    after["stock_rnn"]["metrics"]["new_name"] = after["stock_rnn"]["metrics"].pop("baseline_persistence_test_rmse")
    lines, same = compare(RUN, after, 1e-6)
    assert same and lines[0].endswith("1 common metrics within 1e-06; 1 only before, 1 only after; verdict same")


def test_a_missing_model_fails():
    assert compare(RUN, {}, 1e-6) == (["stock_rnn: only in before"], False)
