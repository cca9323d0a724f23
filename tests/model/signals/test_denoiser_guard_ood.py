"""The guard around a real (tiny) network that only ever saw sines: it keeps the network's answer
on sines and takes the classical path on inputs built to fool it."""
import numpy as np
import pytest
import torch

from pipeline.data.signals import generate_signals
from pipeline.tasks.signals import guard
from pipeline.tasks.signals.guard import acceptable, guarded_denoise
from pipeline.tasks.signals.scoring import snr_gain_db
from pipeline.models.signal_denoiser import SignalDenoiser
from pipeline.training import LOSSES, TrainConfig, fit, on_targets, single_phase

SINE_NOISE = [{"kind": "relative", "sigma": 0.1}]


@pytest.fixture(scope="module")
def sine_net(one_thread_per_module):
    s = generate_signals(256, ["sine"], SINE_NOISE, length=64, seed=0)
    data = torch.utils.data.TensorDataset(torch.from_numpy(s.noisy.copy()), torch.from_numpy(s.pure.copy()))
    torch.manual_seed(0)
    model = SignalDenoiser(channels=8, levels=2, kernel_size=5, trend_degree=-1, targets="raw")
    config = TrainConfig(30, 32, 3e-3, 0, 0)
    fit(model, data, data, single_phase(on_targets(LOSSES["mse"]()), config), config, device=torch.device("cpu"))
    return model.eval()


def test_guard_keeps_the_network_on_its_own_family(sine_net):
    s = generate_signals(100, ["sine"], SINE_NOISE, length=64, seed=1)
    guarded = guarded_denoise(sine_net, s.noisy)
    assert acceptable(s.noisy, guarded.net, guarded.noise).mean() > 0.9  # the harm check passes
    net_gain = snr_gain_db(s.noisy, s.pure, guarded.net)
    assert net_gain > snr_gain_db(s.noisy, s.pure, guarded.classical) > 3
    assert snr_gain_db(s.noisy, s.pure, guarded.denoised) > net_gain - 0.5  # SURE mostly keeps the net


def test_guard_takes_the_classical_path_on_inputs_built_to_fool_the_network(sine_net):
    """Square waves with 1 % noise: the sine net rounds every edge off, which white noise does not
    explain; the guard notices in the residual, and the answer does no harm."""
    s = generate_signals(100, ["square"], [{"kind": "relative", "sigma": 0.01}], length=64, seed=1)
    guarded = guarded_denoise(sine_net, s.noisy)
    assert snr_gain_db(s.noisy, s.pure, guarded.net) < 0  # fooled
    assert acceptable(s.noisy, guarded.net, guarded.noise).mean() < 0.1  # the harm check fails
    assert np.mean(guarded.fallback_share == 1) > 0.9
    assert snr_gain_db(s.noisy, s.pure, guarded.denoised) >= 0


def test_the_guard_serves_random_walks_the_walks_own_smoother(sine_net):
    """Brownian paths at 1 % noise (150 points): their own steps read as noise ~3.5x too strong, so
    the network and the fallback smooth signal away; their increments give them away (walk_fit), and
    the walk's own smoother returns about the input (at 1 % noise there is little to gain: +0.25 dB
    with the true levels on the test set), with a noise level near the truth."""
    s = generate_signals(100, ["random_walk"], [{"kind": "relative", "sigma": 0.01}], length=150, seed=1)
    guarded = guarded_denoise(sine_net, s.noisy)
    walk = guarded.path == "walk"
    assert walk.mean() > 0.8 and np.all(guarded.fallback_share[walk] == 0)
    assert snr_gain_db(s.noisy[walk], s.pure[walk], guarded.classical[walk]) < -3  # what the fallback would do
    assert snr_gain_db(s.noisy[walk], s.pure[walk], guarded.denoised[walk]) > -1.5
    true_sigma = 0.01 * np.ptp(s.pure, -1)
    assert np.median(guarded.noise.sigma[walk] / true_sigma[walk]) < 1.5


def test_the_guard_keeps_in_family_signals_off_the_walk_path(sine_net):
    s = generate_signals(100, ["sine"], [{"kind": "relative", "sigma": 0.1}], length=150, seed=1)
    assert np.mean(guarded_denoise(sine_net, s.noisy).path == "walk") <= 0.02


def test_a_given_noise_level_keeps_a_rough_signal_the_estimate_smooths_away(sine_net):
    """Brownian paths at 1 % noise, 64 points (too short for the walk expert): their own steps read
    as noise ~3x too strong, and the guard smooths signal away. Told the true level, it leaves them
    nearly alone."""
    s = generate_signals(100, ["random_walk"], [{"kind": "relative", "sigma": 0.01}], length=64, seed=1)
    true_sigma = 0.01 * np.ptp(s.pure, -1)
    estimated = guarded_denoise(sine_net, s.noisy)
    assert np.median(estimated.noise.sigma / true_sigma) > 2
    assert snr_gain_db(s.noisy, s.pure, estimated.denoised) < -3
    given = guarded_denoise(sine_net, s.noisy, true_sigma)
    np.testing.assert_array_equal(given.noise.sigma, true_sigma)
    assert snr_gain_db(s.noisy, s.pure, given.denoised) > -0.5


def test_a_given_noise_level_keeps_the_network_on_its_own_family(sine_net):
    s = generate_signals(100, ["sine"], SINE_NOISE, length=64, seed=1)
    given = guarded_denoise(sine_net, s.noisy, 0.1 * np.ptp(s.pure, -1))
    assert snr_gain_db(s.noisy, s.pure, given.denoised) > snr_gain_db(s.noisy, s.pure, guarded_denoise(sine_net, s.noisy).denoised) - 0.3


def test_a_given_noise_level_the_input_cannot_hold_is_capped(sine_net, monkeypatch):
    """A caller's level 10x too high (wrong units, another sensor) would have the guard smooth signal
    away; it is capped at what the input can hold, so the answer stays near the estimated path's."""
    s = generate_signals(100, ["sine"], [{"kind": "relative", "sigma": 0.03}], length=64, seed=2)
    wrong = 10 * 0.03 * np.ptp(s.pure, -1)
    estimated = guarded_denoise(sine_net, s.noisy)
    capped = guarded_denoise(sine_net, s.noisy, wrong)
    np.testing.assert_allclose(capped.noise.sigma, guard.given_sigma_cap(estimated.noise.sigma, 64))
    assert np.all(capped.noise.sigma < wrong)
    # the cap (the estimate plus 4 of its standard deviations, 1.5x at 64 points) smooths a little more
    # than the estimate does: within half a dB of it, where the uncapped level costs more than 1 dB
    assert snr_gain_db(s.noisy, s.pure, capped.denoised) > snr_gain_db(s.noisy, s.pure, estimated.denoised) - 0.5
    monkeypatch.setattr(guard, "given_sigma_cap", lambda estimate, length: np.full_like(estimate, np.inf))
    uncapped = guarded_denoise(sine_net, s.noisy, wrong)
    assert snr_gain_db(s.noisy, s.pure, uncapped.denoised) < snr_gain_db(s.noisy, s.pure, capped.denoised) - 1


SHORT_SPAN = {"length": 32, "x_step": 1.5 / 32}  # the sweep's 32 points over the main files' span


def test_signals_too_short_for_the_guard_come_back_as_they_came(sine_net):
    """Damped sines and bumps at 32 points over the usual span, a few samples across each feature:
    their own content reads as noise (the estimate well above the true level), and every path of
    the guard (the network, the fallback) takes content for noise and does harm. Shorter than
    GUARD_MIN_LENGTH, the answer is the input itself: never worse than what came in."""
    s = generate_signals(50, ["damped_sine", "bumps"], [{"kind": "relative", "sigma": 0.05}], seed=3, **SHORT_SPAN)
    guarded = guarded_denoise(sine_net, s.noisy)
    assert np.median(guarded.noise.sigma / (0.05 * np.ptp(s.pure, -1))) > 1.5  # fooled
    assert snr_gain_db(s.noisy, s.pure, guarded.classical) < 0
    assert snr_gain_db(s.noisy, s.pure, guarded.net) < 0
    np.testing.assert_array_equal(guarded.denoised, s.noisy)
    assert set(guarded.path) == {"input"} and np.all(guarded.fallback_share == 0)
    assert snr_gain_db(s.noisy, s.pure, guarded.denoised) == 0


def test_the_guard_judges_every_signal_from_its_shortest_length_on(sine_net):
    """GUARD_MIN_LENGTH is the first length the guard answers itself: one point shorter comes back
    as it came, at that length the network's sines get the network's answer."""
    shortest = guard.GUARD_MIN_LENGTH
    s = generate_signals(20, ["sine"], SINE_NOISE, length=shortest, x_step=0.64 / shortest, seed=4)
    at = guarded_denoise(sine_net, s.noisy)
    assert np.mean(at.path == "input") == 0 and snr_gain_db(s.noisy, s.pure, at.denoised) > 3
    below = guarded_denoise(sine_net, s.noisy[:, : shortest - 1])
    assert set(below.path) == {"input"}
    np.testing.assert_array_equal(below.denoised, s.noisy[:, : shortest - 1])
