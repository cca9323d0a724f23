"""The heavy-tailed (laplace, student_t) and coloured (ar1) noise kinds of pipeline.data.signals, through
generate_signals: each scaled to its signal's range, with the law and the correlation it names."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.signals import NOISES, generate_signals, noise_label, white_sigma

SIGMA = 0.1
LAPLACE = {"kind": "laplace", "sigma": SIGMA}
STUDENT_T = {"kind": "student_t", "sigma": SIGMA, "df": 5.0}
AR1 = {"kind": "ar1", "sigma": SIGMA, "phi": 0.9}
NEW_KINDS = [LAPLACE, STUDENT_T, AR1, {"kind": "ar1", "sigma": SIGMA, "phi": -0.5}]
FAMILIES = ["sine", "steps", "chirp"]  # ranges that differ from signal to signal


def unit_noise(noise: dict, n: int = 100, length: int = 2_000, seed: int = 11, families=FAMILIES) -> np.ndarray:
    """float64 (n x families, length): what the noise added, over sigma x each pure signal's range (so
    unit standard deviation where the noise is what it says)."""
    s = generate_signals(n, families, [noise], length=length, seed=seed)
    scale = noise["sigma"] * np.ptp(s.pure.astype(np.float64), axis=-1, keepdims=True)
    return (s.noisy.astype(np.float64) - s.pure) / scale


def kurtosis(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float(np.mean(centred**4) / np.mean(centred**2) ** 2)


def autocorrelation(unit: np.ndarray, lag: int) -> float:
    """Pooled over signals, of zero-mean unit-variance rows."""
    return float(np.mean(unit[:, :-lag] * unit[:, lag:]))


@pytest.mark.parametrize("noise", NEW_KINDS, ids=lambda n: noise_label(n["kind"], n))
def test_noise_has_the_standard_deviation_asked_for_times_each_range_and_zero_mean(noise):
    unit = unit_noise(noise)
    assert abs(unit.std() - 1) < 0.03
    assert abs(np.median(unit.std(axis=-1)) - 1) < 0.05  # signal by signal too, not only pooled
    assert abs(unit.mean()) < 0.03  # AR(1) at phi 0.9: about 19 times fewer independent points


def test_laplace_kurtosis_is_six_and_student_t_is_heavier_tailed_than_gaussian():
    gaussian = kurtosis(unit_noise({"kind": "relative", "sigma": SIGMA}))
    assert abs(gaussian - 3) < 0.1
    assert abs(kurtosis(unit_noise(LAPLACE)) - 6) < 0.5
    assert kurtosis(unit_noise(STUDENT_T)) > 4.5  # 9 in theory (3 + 6/(df - 4)); its estimate is noisy


@pytest.mark.parametrize("noise", [LAPLACE, STUDENT_T], ids=["laplace", "student_t"])
def test_heavy_tailed_noises_are_white(noise):
    unit = unit_noise(noise)
    for lag in (1, 2, 5):
        assert abs(autocorrelation(unit, lag)) < 0.01


@pytest.mark.parametrize("phi", [0.9, 0.5, -0.5, 0.0])
def test_ar1_correlates_points_k_apart_by_phi_to_the_k(phi):
    unit = unit_noise({"kind": "ar1", "sigma": SIGMA, "phi": phi})
    for lag in (1, 2, 3, 5, 10):
        assert abs(autocorrelation(unit, lag) - phi**lag) < 0.02, lag


def test_ar1_is_stationary_from_its_first_point():
    unit = unit_noise(AR1, n=2_000, length=40)  # 6,000 signals: each position's deviation within ~1 %
    deviation = unit.std(axis=0)
    assert np.all(np.abs(deviation[[0, 1, 2, 20, -1]] - 1) < 0.05)
    for start in (0, 20):  # the first pair correlates as a later one does
        assert abs(np.corrcoef(unit[:, start], unit[:, start + 1])[0, 1] - 0.9) < 0.01


@pytest.mark.parametrize("kind", ["laplace", "student_t", "ar1"])
def test_zero_sigma_is_noiseless(kind):
    noise = {"kind": kind, "sigma": 0.0, "df": 3.0, "phi": 0.5}
    noise = {key: noise[key] for key in ("kind", "sigma", *({"student_t": ["df"], "ar1": ["phi"]}.get(kind, [])))}
    s = generate_signals(5, FAMILIES, [noise], length=64, seed=1)
    np.testing.assert_array_equal(s.noisy, s.pure)


def test_same_seed_same_signals_other_seed_other_noise_and_distinct_labels():
    noises = [{"kind": "relative", "sigma": SIGMA}, *NEW_KINDS, {"kind": "student_t", "sigma": SIGMA, "df": 3}]
    a, b, c = (generate_signals(20, FAMILIES, noises, length=100, seed=seed) for seed in (4, 4, 5))
    np.testing.assert_array_equal(a.noisy, b.noisy)
    np.testing.assert_array_equal(a.pure, b.pure)
    assert a.noisy.dtype == np.float32 and a.noisy.shape == (20 * 3 * len(noises), 100)
    assert not np.array_equal(a.noisy - a.pure, c.noisy - c.pure)
    assert a.noise_names == ("relative_sigma0.1", "laplace_sigma0.1", "student_t_sigma0.1_df5", "ar1_sigma0.1_phi0.9",
                             "ar1_sigma0.1_phi-0.5", "student_t_sigma0.1_df3")
    assert {"laplace", "student_t", "ar1"} <= set(NOISES)


def test_each_kind_draws_its_own_noise_on_the_same_pure_signals():
    s = generate_signals(50, ["sine"], [{"kind": "relative", "sigma": SIGMA}, *NEW_KINDS], length=200, seed=2)
    noise = (s.noisy - s.pure).reshape(len(s.noise_names), -1)
    assert np.all(np.abs(np.corrcoef(noise) - np.eye(len(noise))) < 0.05)  # independent draws per block


@pytest.mark.parametrize("noise", [LAPLACE, STUDENT_T], ids=["laplace", "student_t"])
def test_white_sigma_of_a_heavy_tailed_noise_is_its_standard_deviation(noise):
    s = generate_signals(50, ["sine", "steps"], [noise], length=4_000, seed=3)
    sigma = white_sigma(s.pure, noise["kind"], noise)
    np.testing.assert_allclose(np.std(s.noisy - s.pure, axis=-1), sigma, rtol=0.15)
    np.testing.assert_allclose(np.median(np.std(s.noisy - s.pure, axis=-1) / sigma), 1, rtol=0.03)


def test_ar1_has_no_white_sigma():
    s = generate_signals(2, ["sine"], [AR1], length=50)
    assert white_sigma(s.pure, "ar1", AR1) is None
