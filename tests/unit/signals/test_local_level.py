"""The random-walk expert's smoother (scipy's banded solver) on cases with known answers."""
import numpy as np
import pytest

from pipeline.tasks.signals.walk import local_level_dof, local_level_smoother


@pytest.mark.parametrize("weight", [0.0, 0.5, 3.0, 1e4])
def test_two_points_have_the_closed_form_answer(weight):
    """Two points a, b, weight w: (I + D'WD) = [[1 + w, -w], [-w, 1 + w]], so
    x = ((1 + w) a + w b, w a + (1 + w) b) / (1 + 2 w), and the trace of its inverse 2 (1 + w) / (1 + 2 w)."""
    a, b = 1.5, -2.0
    expected = np.array([(1 + weight) * a + weight * b, weight * a + (1 + weight) * b]) / (1 + 2 * weight)
    # the matrix's condition number is 1 + 4 w: rounding grows with it
    np.testing.assert_allclose(local_level_smoother([[a, b]], [[weight]])[0], expected, rtol=1e-15 * (1 + 4 * weight) + 1e-14)
    assert local_level_dof(np.array([[weight]]))[0] == pytest.approx(2 * (1 + weight) / (1 + 2 * weight), rel=1e-13)


def test_a_constant_is_left_alone_and_a_huge_weight_gives_the_mean():
    # a constant has no increments to penalise: it is its own minimiser
    np.testing.assert_allclose(local_level_smoother(np.full((2, 50), 3.25), np.full((2, 49), 7.0)), 3.25, rtol=1e-13)
    # as the weight grows, every increment is forced to 0: x tends to the constant nearest y, its mean
    y = np.random.default_rng(2).standard_normal((3, 30))
    np.testing.assert_allclose(local_level_smoother(y, np.full((3, 29), 1e9)), np.repeat(y.mean(-1, keepdims=True), 30, -1),
                               atol=1e-5)


def test_weights_cut_the_signal_into_independent_pieces():
    """A weight of 0 on an increment decouples the two sides: each piece is smoothed on its own."""
    rng = np.random.default_rng(3)
    y = rng.standard_normal((1, 20))
    weights = np.full((1, 19), 2.0)
    weights[0, 7] = 0.0
    whole = local_level_smoother(y, weights)[0]
    np.testing.assert_allclose(whole[:8], local_level_smoother(y[:, :8], weights[:, :7])[0], rtol=1e-12)
    np.testing.assert_allclose(whole[8:], local_level_smoother(y[:, 8:], weights[:, 8:])[0], rtol=1e-12)


def test_no_signals_give_no_answers():
    assert local_level_smoother(np.empty((0, 150)), np.empty((0, 149))).shape == (0, 150)
