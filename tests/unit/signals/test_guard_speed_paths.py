"""The guard's faster paths answer as the plain ones do: the fallback scores every candidate filter
at once, and the network meets the input and its probed copies in one pass."""
from __future__ import annotations

import numpy as np
import torch

from pipeline.data.signals import generate_signals
from pipeline.models.signal_denoiser import SignalDenoiser
from pipeline.tasks.signals import denoise
from pipeline.tasks.signals.filters import Noise, deglitch, estimate_noise
from pipeline.tasks.signals.guard import (DIVERGENCE_PROBES, FALLBACK_CHUNK, acceptable, divergence_probes,
                                         fallback_candidates, fallback_filter, net_and_divergence, sure)

NOISES = [{"kind": "relative", "sigma": 0.05}, {"kind": "relative", "sigma": 0.3},
          {"kind": "spikes", "rate": 0.02, "level": 1.0}, {"kind": "dropout", "rate": 0.05}]


def one_candidate_at_a_time(noisy: np.ndarray, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """The fallback as a loop: each candidate replaces the best so far where its SURE is strictly lower
    and it is acceptable."""
    clean = deglitch(noisy, noise)
    best, best_divergence = clean, np.full(len(clean), float(clean.shape[-1]))
    best_risk = sure(noisy, clean, noise, best_divergence)
    for out, divergence in fallback_candidates(clean):
        risk = sure(noisy, out, noise, divergence)
        better = (risk < best_risk) & acceptable(noisy, out, noise)
        best, best_risk = np.where(better[:, None], out, best), np.where(better, risk, best_risk)
        best_divergence = np.where(better, divergence, best_divergence)
    return best, best_divergence


def test_the_fallback_picks_what_the_candidate_loop_picks():
    s = generate_signals(12, ["sine", "steps", "chirp", "random_walk"], NOISES, seed=3)
    noisy = np.concatenate([s.noisy, np.zeros((2, s.noisy.shape[1]))])  # flat inputs: SURE ties everywhere
    noise = estimate_noise(noisy)
    out, divergence = fallback_filter(noisy, noise)
    expected_out, expected_divergence = one_candidate_at_a_time(noisy, noise)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(divergence, expected_divergence)
    assert not np.array_equal(out, deglitch(noisy, noise))  # some signal was smoothed: the choice mattered


def test_the_fallback_answers_the_same_in_chunks_as_signal_by_signal():
    s = generate_signals(FALLBACK_CHUNK // 6 + 3, ["sine", "steps"], NOISES[:3], seed=4)  # 2 x 3 x n signals
    assert len(s.noisy) > FALLBACK_CHUNK
    noise = estimate_noise(s.noisy)
    out, divergence = fallback_filter(s.noisy, noise)
    for i in (0, FALLBACK_CHUNK - 1, FALLBACK_CHUNK, len(s.noisy) - 1):
        one = fallback_filter(s.noisy[i:i + 1], Noise(noise.sigma[i:i + 1], noise.glitches[i:i + 1]))
        np.testing.assert_allclose(out[i], one[0][0], rtol=0, atol=1e-12)
        assert divergence[i] == one[1][0]


def test_one_pass_gives_the_net_and_the_divergence_of_separate_passes():
    torch.manual_seed(0)
    model = SignalDenoiser(8, 2, 5, 2, "raw", sign_symmetric=True).eval()
    s = generate_signals(3, ["sine", "steps"], NOISES[:2], seed=5)
    given = s.noisy.astype(np.float32)
    noise = estimate_noise(given)
    net, divergence = net_and_divergence(model, given, noise)
    # separately: the output, then the probed copies
    alone = denoise(model, given)
    probes = divergence_probes(given)
    step = 0.1 * np.maximum(np.maximum(np.sqrt(noise.power), 1e-3 * np.ptp(given, -1)), np.finfo(np.float32).tiny)
    moved = denoise(model, (given + step[:, None] * probes).reshape(-1, given.shape[-1]).astype(np.float32))
    change = moved.reshape(DIVERGENCE_PROBES, *given.shape).astype(np.float64) - alone
    expected = np.mean(np.sum(probes * change, -1), 0) / step
    np.testing.assert_allclose(net, alone, rtol=0, atol=1e-5)
    np.testing.assert_allclose(divergence, expected, rtol=1e-3, atol=1e-2)
    assert np.all(np.abs(divergence) > 1)  # a network that smooths a little, not the zero map
