"""Two checks of the do-no-harm guard on inputs built so that the check decides the outcome: the
blend of the model's answer with the fallback must itself be acceptable, and the fallback filter
takes only acceptable candidates."""
from __future__ import annotations

import numpy as np

from pipeline.data.signals import generate_signals
from pipeline.tasks.signals.filters import WINDOW_GRID, Noise, adaptive_wiener, deglitch, estimate_noise
from pipeline.tasks.signals.guard import (BLEND, FALLBACK, FALLBACK_WIENER_MAX_WINDOW, acceptable, fallback_candidates,
                                         fallback_filter, guarded_denoise, sure)
from pipeline.tasks.signals.scoring import snr_gain_db, worse_than_input_share
from stand_ins import Answers


# --- the blend must pass the check too ---------------------------------------------------------


def answers_around_the_fallback(shape: np.ndarray):
    """Sines under 5 % white noise, the fallback's answer for each, and a network answer built around
    it: residual 2 s - r, where r is the fallback's residual and s a pattern of `shape` at 0.2 noise
    sigmas. Half-way between the two, the residual is s alone."""
    s = generate_signals(40, ["sine"], [{"kind": "relative", "sigma": 0.05}], seed=1)
    noisy = s.noisy.astype(np.float64)
    noise = estimate_noise(noisy)
    assert noise.white.all() and not noise.glitches.any()  # the fallback is asked about the same noise
    classical = fallback_filter(noisy, noise)[0]
    pattern = 0.2 * noise.sigma[:, None] * shape / np.sqrt(np.mean(np.square(shape)))
    answer = noisy - (2 * pattern - (noisy - classical))
    return noisy, noise, classical, answer


def test_a_blend_whose_residual_is_structure_is_refused_for_the_fallback():
    """The answer and the fallback each pass the check, and SURE puts the blend near half-way; there
    the noise cancels and the residual is a slow wave (its neighbours share their sign): the blend
    fails the check, and the guard serves the fallback."""
    t = np.arange(150)
    noisy, noise, classical, answer = answers_around_the_fallback(np.sin(2 * np.pi * 1.5 * t / 150))
    assert acceptable(noisy, answer, noise).all() and acceptable(noisy, classical, noise).all()
    assert not acceptable(noisy, (answer + classical) / 2, noise).any()
    guarded = guarded_denoise(Answers(answer, noisy), noisy)
    assert (guarded.path == FALLBACK).all() and (guarded.fallback_share == 1).all()
    np.testing.assert_array_equal(guarded.denoised, classical.astype(np.float32))


def test_a_blend_whose_residual_looks_like_noise_is_served():
    """The same construction with an alternating pattern: half-way the residual changes sign at every
    point, the blend passes the check and is served."""
    noisy, noise, classical, answer = answers_around_the_fallback((-1.0) ** np.arange(150))
    guarded = guarded_denoise(Answers(answer, noisy), noisy)
    assert (guarded.path == BLEND).all()
    assert np.all((guarded.fallback_share > 0.2) & (guarded.fallback_share < 0.8))
    share = guarded.fallback_share[:, None]
    np.testing.assert_allclose(guarded.denoised, answer + share * (classical - answer), rtol=0, atol=1e-5)


# --- the fallback filter takes only acceptable candidates ----------------------------------------


def sines_with_noise_level(given: float):
    """Sines of 5 periods under white noise of 1 % of their amplitude, and a Noise that says the
    noise is `given` x that."""
    rng = np.random.default_rng(0)
    t = np.arange(150)
    pure = np.sin(2 * np.pi * 5 * t / 150 + rng.uniform(0, 2 * np.pi, (20, 1)))
    noisy = pure + 0.01 * rng.standard_normal(pure.shape)
    return pure, noisy, Noise(np.full(20, given * 0.01), np.zeros_like(noisy))


def candidate_risks(noisy: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SURE (C, N), acceptable (C, N), outputs (C, N, L)) of every candidate the fallback may pick."""
    clean = deglitch(noisy, noise)
    outputs, divergences = zip(*fallback_candidates(clean))
    risks = np.stack([sure(noisy, out, noise, div) for out, div in zip(outputs, divergences)])
    return risks, np.stack([acceptable(noisy, out, noise) for out in outputs]), np.stack(outputs)


def test_the_fallback_refuses_a_lower_sure_candidate_whose_residual_is_signal():
    """Told a noise level 10x the truth, SURE favours smoothing the sines away: on every input the
    candidate with the lowest SURE flattens them (its residual is the sine, neighbours of one sign)
    and would send every signal back worse than it came. The fallback refuses it and takes the best
    acceptable candidate, which improves on every input."""
    pure, noisy, noise = sines_with_noise_level(10.0)
    risks, fine, outputs = candidate_risks(noisy, noise)
    lowest = outputs[risks.argmin(0), np.arange(len(noisy))]
    assert not fine[risks.argmin(0), np.arange(len(noisy))].any()  # the lowest-SURE candidate fails the check
    assert worse_than_input_share(noisy, pure, lowest) == 1.0
    out, divergence = fallback_filter(noisy, noise)
    assert acceptable(noisy, out, noise).all()
    # what it took is the acceptable candidate with the lowest SURE
    np.testing.assert_allclose(sure(noisy, out, noise, divergence), np.where(fine, risks, np.inf).min(0), rtol=1e-12)
    assert worse_than_input_share(noisy, pure, out) == 0.0 and snr_gain_db(noisy, pure, out) > 3


def test_the_fallback_takes_the_lowest_sure_candidate_when_it_is_acceptable():
    """Told the true noise level, the lowest-SURE candidate passes the check and is taken."""
    pure, noisy, noise = sines_with_noise_level(1.0)
    risks, fine, outputs = candidate_risks(noisy, noise)
    best = risks.argmin(0)
    assert fine[best, np.arange(len(noisy))].all()
    out, divergence = fallback_filter(noisy, noise)
    np.testing.assert_array_equal(out, outputs[best, np.arange(len(noisy))])
    assert np.all(sure(noisy, out, noise, divergence) < sure(noisy, noisy, noise, 150.0))  # better than no smoothing
    assert snr_gain_db(noisy, pure, out) > 3


def test_the_fallback_tries_adaptive_wiener_windows_up_to_and_including_its_maximum():
    """FALLBACK_WIENER_MAX_WINDOW is the widest adaptive Wiener window the fallback may pick; the
    next one of the grid is left out (it smooths like the Savitzky-Golay filters)."""
    _, noisy, _ = sines_with_noise_level(1.0)
    outputs = [out for out, _ in fallback_candidates(noisy)]
    wider = min(w for w in WINDOW_GRID if w > FALLBACK_WIENER_MAX_WINDOW)
    assert any(np.array_equal(out, adaptive_wiener(noisy, FALLBACK_WIENER_MAX_WINDOW)[0]) for out in outputs)
    assert not any(np.array_equal(out, adaptive_wiener(noisy, wider)[0]) for out in outputs)


# --- the residual the checks read ------------------------------------------------------------------


def test_sure_at_half_divergence_is_the_residual_power_off_glitches_clipped_at_ten_sigmas():
    """With divergence L/2 SURE's correction vanishes: it is the mean residual power over the points
    away from the input's glitches, each residual clipped at 10 sigmas (not where sigma is 0)."""
    length = 8
    residual = np.array([[0.1, -0.1, 5.0, 0.1, -0.1, 0.1, 0.1, 9.0],  # 5.0 clipped to 10 x 0.1; 9.0 a glitch
                         [0.2, -0.2, 0.2, -0.2, 0.2, -0.2, 0.2, 3.0],  # sigma 0: no clip; 3.0 a glitch
                         [7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 0.1]])  # one point left off the glitches
    glitches = np.zeros((3, length))
    glitches[0, 7], glitches[1, 7], glitches[2, :7] = 9.0, 3.0, 7.0
    noise = Noise(np.array([0.1, 0.0, 0.1]), glitches)
    noisy = np.linspace(0.0, 1.0, 3 * length).reshape(3, length)
    got = sure(noisy, noisy - residual, noise, length / 2)
    np.testing.assert_allclose(got, [(6 * 0.01 + 1.0) / 7, 0.04, 0.01], rtol=1e-12)


def test_a_noiseless_input_is_an_acceptable_answer_to_itself():
    """No noise, no residual: the error is 0, at the bound 0 x the noise power, which it may reach."""
    noisy = np.linspace(0.0, 1.0, 40).reshape(2, 20)
    assert acceptable(noisy, noisy.copy(), Noise(np.zeros(2), np.zeros_like(noisy))).all()


def test_the_residual_of_float32_answers_is_taken_in_float64():
    """A float32 input and answer (the network's) differ by what float32 cannot hold: the residual is
    their exact difference, not a float32 one rounded to the input."""
    noisy = np.full((1, 16), 3.0, np.float32)
    answer = np.full((1, 16), 1.2e-8, np.float32)
    exact = np.float64(noisy[0, 0]) - np.float64(answer[0, 0])
    got = sure(noisy, answer, Noise(np.zeros(1), np.zeros((1, 16))), 8.0)
    assert got[0] == exact**2 and np.float32(3.0) - answer[0, 0] == np.float32(3.0)  # float32 would lose it


def test_a_point_beside_a_glitch_has_no_sign_to_share():
    """The residual is 0 at the input's glitches: its neighbours do not count as sharing its sign. A
    residual of +sigma in pairs between glitches is the noise's size, and a third of its neighbours
    share a sign (the pairs); counting the points beside a glitch too would make it two thirds."""
    sigma, length = 0.1, 21
    glitches = np.zeros((1, length))
    glitches[0, 2::3] = 1e-3  # small: white noise still carries the noise power
    noise = Noise(np.array([sigma]), glitches)
    noisy = np.linspace(0.0, 1.0, length)[None]
    answer = noisy - np.where(glitches > 0, 5.0, sigma)
    assert noise.white.all() and acceptable(noisy, answer, noise).all()


def test_a_residual_at_the_same_sign_bound_is_acceptable():
    """Six of ten neighbouring residuals of one sign is GUARD_MAX_SAME_SIGN (0.6): still white enough."""
    sigma = 0.1
    signs = np.array([1, 1, 1, 1, 1, 1, 1, -1, 1, -1, 1], np.float64)
    noisy = np.linspace(0.0, 1.0, len(signs))[None]
    noise = Noise(np.array([sigma]), np.zeros_like(noisy))
    assert acceptable(noisy, noisy - sigma * signs, noise).all()


def test_a_signal_without_noise_keeps_the_unsmoothed_identity_on_a_tie():
    """With no noise (sigma-hat 0) every candidate that reproduces the signal ties with the identity
    on SURE: a filter is taken only when strictly better, so the answer is the input itself, with the
    identity's divergence (its length), not a smoother's."""
    flat = np.zeros((1, 150))
    noise = estimate_noise(flat)
    assert noise.sigma[0] == 0
    out, divergence = fallback_filter(flat, noise)
    np.testing.assert_array_equal(out, flat)
    assert divergence[0] == 150.0
