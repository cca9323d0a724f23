"""Lotto decoding and scoring: valid tickets from any output, exact chance, the baselines' tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis_budget import examples
from scipy.optimize import linear_sum_assignment

from pipeline.tasks.lotto import (
    P_ONE,
    P_TWO,
    chance_pmf,
    count_matches,
    decode,
    frequency_ticket,
    match_distribution,
    one_sided_p,
    z_vs_chance,
    z_vs_ticket,
)


def assert_valid(tickets: np.ndarray) -> None:
    assert tickets.shape[1] == 6 and tickets.dtype.kind == "i"
    assert ((tickets >= 1) & (tickets <= 45)).all()
    assert (np.diff(tickets, axis=1) > 0).all()  # ascending, hence distinct


def nearest_distance(values: np.ndarray) -> float:
    """Least-squares distance to the nearest valid ticket by an independent exact solver: the
    optimal assignment of the six outputs to distinct numbers (no sorting, no clipping)."""
    cost = (values[:, None] - np.arange(1, 46)[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum())


@settings(max_examples=examples(300), deadline=None)
@given(arrays(np.float64, (5, 6), elements=st.floats(-1e12, 1e12, allow_nan=False)))
def test_decode_is_always_a_valid_ticket(values):
    assert_valid(decode(values))


@settings(max_examples=examples(200), deadline=None)
@given(arrays(np.float64, 6, elements=st.floats(-100, 150, allow_nan=False)))
def test_decode_is_the_nearest_valid_ticket(values):
    ticket = decode(values[None])[0]
    distance = float(((np.sort(values) - ticket) ** 2).sum())
    assert distance == pytest.approx(nearest_distance(values), rel=1e-9, abs=1e-9)


def test_decode_adversarial_outputs():
    # all slots equal: the six consecutive numbers centred on it
    np.testing.assert_array_equal(decode(np.full((1, 6), 20.5)), [[18, 19, 20, 21, 22, 23]])
    # far outside the range: the end numbers
    np.testing.assert_array_equal(decode(np.full((1, 6), -1e9)), [[1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(decode(np.full((1, 6), -1e300)), [[1, 2, 3, 4, 5, 6]])  # its square overflows
    np.testing.assert_array_equal(decode([[-1e300, 7.2, 7.2, 30, 1e300, 44]]), [[1, 7, 8, 30, 44, 45]])
    np.testing.assert_array_equal(decode(np.full((1, 6), 1e300)), [[40, 41, 42, 43, 44, 45]])
    np.testing.assert_array_equal(decode([[-5, 50, 0.2, 45.4, 1, 44.9]]), [[1, 2, 3, 43, 44, 45]])
    # rounding duplicates resolved to neighbours; an already valid ticket is kept (order free)
    np.testing.assert_array_equal(decode([[10.2, 10.4, 30, 31, 32, 33]]), [[10, 11, 30, 31, 32, 33]])
    np.testing.assert_array_equal(decode([[45, 3, 17, 9, 28, 1]]), [[1, 3, 9, 17, 28, 45]])


@pytest.mark.parametrize("shape", [(2, 5), (6,), (1, 6, 6), (1, 5, 6)])
def test_decode_rejects_outputs_not_six_per_row(shape):
    with pytest.raises(ValueError) as info:
        decode(np.zeros(shape))
    assert str(info.value) == f"expected outputs of shape (N, 6), got {shape}"


def test_decode_rejects_non_finite_outputs():
    with pytest.raises(ValueError) as info:
        decode([[1, 2, 3, 4, 5, np.nan]])
    assert str(info.value) == "cannot decode non-finite outputs"


def test_chance_level_is_exactly_0_8():
    pmf = chance_pmf()
    assert pmf.sum() == pytest.approx(1, abs=1e-15)
    assert pmf @ np.arange(7) == pytest.approx(6 * 6 / 45, abs=1e-15)
    assert pmf[6] == pytest.approx(1 / 8_145_060)
    assert pmf[0] == pytest.approx(math.comb(39, 6) / math.comb(45, 6))
    variance = pmf @ np.arange(7) ** 2 - 0.8**2
    # a fixed 6-set: 6 P(1 - P) + 30 (P_TWO - P^2); equals the paired formula's 6 (P_ONE - P_TWO) + 36 (P_TWO - P^2)
    assert variance == pytest.approx(6 * P_ONE * (1 - P_ONE) + 30 * (P_TWO - P_ONE**2))


def test_count_matches_and_distribution():
    tickets = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [40, 41, 42, 43, 44, 45]])
    draws = np.array([[1, 2, 3, 4, 5, 6], [4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(count_matches(tickets, draws), [6, 3, 0])
    np.testing.assert_allclose(match_distribution(np.array([6, 3, 0])), [1 / 3, 0, 0, 1 / 3, 0, 0, 1 / 3])


def test_frequency_ticket_known_answer():
    draws = np.array([
        [1, 2, 3, 4, 5, 6],
        [1, 2, 3, 4, 5, 7],
        [1, 2, 3, 4, 8, 9],
        [1, 2, 3, 10, 11, 12],
        [40, 41, 42, 43, 44, 45],
    ])
    # counts: 1,2,3 x4; 4 x3; 5 x2; then 6..12 and 40..45 once each: the tie goes to the smaller, 6
    np.testing.assert_array_equal(frequency_ticket(draws), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(frequency_ticket(draws[[4]]), [40, 41, 42, 43, 44, 45])


def test_z_scores_and_p_values():
    assert one_sided_p(0.0) == pytest.approx(0.5)
    assert one_sided_p(1.6448536) == pytest.approx(0.05, abs=1e-7)
    assert z_vs_chance(np.full(100, 0.8)) == pytest.approx(0)
    sd = math.sqrt(chance_pmf() @ np.arange(7) ** 2 - 0.64)
    assert z_vs_chance(np.full(25, 0.8 + sd)) == pytest.approx(5)  # one sd above, n=25: 5 standard errors
    same = np.tile([1, 2, 3, 4, 5, 6], (4, 1))
    assert z_vs_ticket(same, same, same) == 0.0
    # disjoint tickets, the first always wins by 6 over n=3 draws: z = 18 / sqrt(3 * 12 (P_ONE - P_TWO))
    other = np.tile([40, 41, 42, 43, 44, 45], (3, 1))
    assert z_vs_ticket(same[:3], other, same[:3]) == pytest.approx(18 / math.sqrt(36 * (P_ONE - P_TWO)))


def test_paired_null_variance_matches_simulation():
    rng = np.random.default_rng(0)
    draws = np.sort(np.array([rng.choice(45, 6, replace=False) + 1 for _ in range(20_000)]), axis=1)
    a = np.tile([1, 2, 3, 10, 20, 30], (len(draws), 1))
    b = np.tile([1, 2, 3, 11, 21, 31], (len(draws), 1))  # 3 shared numbers: s = 3
    differences = count_matches(a, draws) - count_matches(b, draws)
    assert differences.var() == pytest.approx(2 * 3 * (P_ONE - P_TWO), rel=0.05)
