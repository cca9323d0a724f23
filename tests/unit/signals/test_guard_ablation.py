"""The guard-ablation benchmark: what it switches off exists, and how it reads a change."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "denoiser"))
from guard_ablation import ABLATIONS, THRESHOLD_DB, _module, compare, markdown  # noqa: E402


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_every_ablation_replaces_something_the_guard_has(ablation):
    """A refactor that renames a path must not leave its ablation patching nothing."""
    for module, attribute, replacement in ABLATIONS[ablation][1]:
        current = getattr(_module(module), attribute)
        assert current is not replacement and not (np.isscalar(current) and current == replacement)


def test_compare_counts_losses_and_gains_beyond_the_threshold_and_names_the_largest_loss():
    base = {"a": 5.0, "b": 3.0, "c": 1.0, "d": 0.0}
    ablated = {"a": 5.0 - 2 * THRESHOLD_DB, "b": 3.0 + 2 * THRESHOLD_DB, "c": 1.0 - THRESHOLD_DB / 2, "d": -1.5}
    c = compare(base, ablated)
    assert c["groups_losing"] == 2 and c["groups_gaining"] == 1
    assert c["largest_loss_db"] == pytest.approx(-1.5) and c["largest_loss_group"] == "d"
    assert c["mean_change_db"] == pytest.approx((-0.2 + 0.2 - 0.05 - 1.5) / 4)


def test_markdown_gives_one_row_per_ablation_and_names_a_loss_only_where_there_is_one():
    result = {"threshold_db": THRESHOLD_DB, "sets": {"validation, 150 points": {"groups": 2, "mean_gain_db": 11.5}},
              "ablations": {
                  "sign_test": {"without": "size alone", "sets": {"validation, 150 points": {
                      "mean_change_db": 0.004, "groups_losing": 0, "groups_gaining": 1, "largest_loss_db": 0.0,
                      "largest_loss_group": "a"}}},
                  "blend": {"without": "no mix", "sets": {"validation, 150 points": {
                      "mean_change_db": -0.129, "groups_losing": 27, "groups_gaining": 12, "largest_loss_db": -3.0,
                      "largest_loss_group": "gp/relative_sigma0.01"}}}}}
    lines = markdown(result).splitlines()
    assert lines[2] == "| (none: the whole guard, mean gain) | 11.50 dB |"
    assert lines[3] == "| sign_test: size alone | +0.004 (0↓ 1↑) |"
    assert lines[4] == "| blend: no mix | -0.129 (27↓ 12↑; -3.00 gp/relative_sigma0.01) |"
