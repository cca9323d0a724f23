"""Tests for the synthetic signal generator (pipeline.data.signals)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import DataError
from pipeline.data import signals
from pipeline.data.signals import (
    FAMILIES,
    generate_signals,
    load_signal_set,
    save_signal_set,
    summarize,
    white_sigma,
)

SEED_NOISE = {"kind": "gaussian", "sigma": 0.05}
ALL_NOISES = [SEED_NOISE, {"kind": "spikes", "rate": 0.02, "level": 1.0}, {"kind": "dropout", "rate": 0.05}]


def assert_same(a, b) -> None:
    for name in ("x", "pure", "noisy", "family", "noise"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.family_names, a.noise_names) == (b.family_names, b.noise_names)


def block(s, array: str, family: str, noise: str = "gaussian_sigma0.05") -> np.ndarray:
    """The rows of one (family, noise) pair."""
    mask = (s.family == s.family_names.index(family)) & (s.noise == s.noise_names.index(noise))
    return getattr(s, array)[mask]


# --- seed configuration ---------------------------------------------------------------

def test_seed_family_reproduces_notebook_grid_and_curve():
    s = generate_signals(8, ["quadratic"], [SEED_NOISE])
    notebook_x = np.array([i * 0.01 for i in range(-50, 100)])
    assert s.x.shape == (150,) and s.x[0] == np.float32(-0.5) and s.x[-1] == np.float32(0.99)
    np.testing.assert_array_equal(s.x, notebook_x.astype(np.float32))
    np.testing.assert_array_equal(s.pure, np.tile((notebook_x**2).astype(np.float32), (8, 1)))


def test_seed_gaussian_noise_has_requested_std():
    s = generate_signals(2000, ["quadratic"], [SEED_NOISE], seed=3)
    residual = s.noisy - s.pure
    assert abs(residual.std() / 0.05 - 1) < 0.02
    assert abs(residual.mean()) < 0.001


# --- layout ---------------------------------------------------------------------------

def test_shapes_dtypes_and_labels():
    families = ["sine", "quadratic", "chirp"]
    s = generate_signals(5, families, ALL_NOISES, length=40)
    n = 5 * 3 * 3
    assert s.x.shape == (40,) and s.pure.shape == s.noisy.shape == (n, 40)
    assert s.x.dtype == s.pure.dtype == s.noisy.dtype == np.float32
    assert s.family.dtype == s.noise.dtype == np.int8 and s.family.shape == s.noise.shape == (n,)
    assert s.family_names == tuple(families)
    assert s.noise_names == ("gaussian_sigma0.05", "spikes_rate0.02_level1", "dropout_rate0.05")
    pairs = np.bincount(s.family * len(ALL_NOISES) + s.noise)
    np.testing.assert_array_equal(pairs, np.full(9, 5))
    assert not s.pure.flags.writeable and not s.noisy.flags.writeable


def test_custom_grid():
    s = generate_signals(2, ["sine"], [SEED_NOISE], length=11, x_start=0.0, x_step=0.1)
    np.testing.assert_allclose(s.x, np.linspace(0, 1, 11), atol=1e-7)


def test_summarize_is_json_serialisable_and_counts():
    s = generate_signals(4, ["sine", "square"], ALL_NOISES[:2], length=30)
    summary = json.loads(json.dumps(summarize(s)))
    assert summary["n_samples"] == 16 and summary["length"] == 30
    assert summary["families"] == {"sine": 8, "square": 8}
    assert summary["noises"] == {"gaussian_sigma0.05": 8, "spikes_rate0.02_level1": 8}
    assert summary["shapes"]["x"] == [30] and summary["shapes"]["pure"] == [16, 30]
    assert summary["bytes"] == 30 * 4 + 2 * 16 * 30 * 4 + 2 * 16


# --- determinism ----------------------------------------------------------------------

def test_same_seed_identical_different_seed_differs():
    args = (20, list(FAMILIES), ALL_NOISES)
    a, b, c = (generate_signals(*args, seed=seed) for seed in (7, 7, 8))
    assert_same(a, b)
    assert not np.array_equal(a.noisy, c.noisy)
    assert not np.array_equal(block(a, "pure", "sine"), block(c, "pure", "sine"))


def test_adding_a_family_or_noise_leaves_other_samples_unchanged():
    small = generate_signals(10, ["sine", "chirp"], [SEED_NOISE], seed=1)
    large = generate_signals(10, ["square", "chirp", "sawtooth", "sine"], [ALL_NOISES[2], SEED_NOISE], seed=1)
    for family in ("sine", "chirp"):
        for array in ("pure", "noisy"):
            np.testing.assert_array_equal(block(small, array, family), block(large, array, family))


def test_draws_do_not_depend_on_the_thread_count_and_chunks_are_independent(monkeypatch):
    n = 2 * signals.CHUNK_ROWS + 5  # three chunks per block, the last one short
    args = (n, ["sine", "random_walk"], [SEED_NOISE])
    monkeypatch.setattr(signals.os, "cpu_count", lambda: 1)
    serial = generate_signals(*args, seed=3)
    monkeypatch.setattr(signals.os, "cpu_count", lambda: 4)
    assert_same(serial, generate_signals(*args, seed=3))
    noise = block(serial, "noisy", "sine") - block(serial, "pure", "sine")
    first, second = noise[:signals.CHUNK_ROWS], noise[signals.CHUNK_ROWS:2 * signals.CHUNK_ROWS]
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.01


# --- noise ----------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.03, 0.2, 1.0])
def test_spikes_affect_requested_fraction(rate):
    s = generate_signals(1000, ["sine"], [{"kind": "spikes", "rate": rate, "level": 0.5}], length=100)
    delta = s.noisy - s.pure
    hit = delta != 0
    assert abs(hit.mean() - rate) < 0.01
    np.testing.assert_allclose(np.abs(delta[hit]), 0.5, atol=1e-6)
    if 0 < rate:
        assert abs((delta > 0).mean() - rate / 2) < 0.01  # random sign


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.5, 1.0])
def test_dropout_zeroes_requested_fraction(rate):
    s = generate_signals(1000, ["sine"], [{"kind": "dropout", "rate": rate}], length=100)
    changed = s.noisy != s.pure
    assert abs(changed.mean() - rate) < 0.01
    assert np.all(s.noisy[changed] == 0)


@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.3])
def test_relative_noise_is_sigma_times_each_signals_range(sigma):
    s = generate_signals(400, ["sine", "steps", "bumps"], [{"kind": "relative", "sigma": sigma}], seed=5)
    ratio = (s.noisy - s.pure).std(axis=1) / np.ptp(s.pure, axis=1)
    assert abs(np.median(ratio) / sigma - 1) < 0.03


def test_held_out_kinds_come_after_the_families_and_are_not_trainable(tmp_path):
    s = generate_signals(4, ["sine", "gp"], [SEED_NOISE], held_out=["bumps", "random_walk"], seed=1)
    assert s.family_names == ("sine", "gp", "bumps", "random_walk") and s.held_out == ("bumps", "random_walk")
    np.testing.assert_array_equal(s.trainable, np.repeat([True, True, False, False], 4))
    assert s.take(s.trainable).held_out == s.held_out
    save_signal_set(tmp_path / "s.npz", s)
    assert load_signal_set(tmp_path / "s.npz").held_out == s.held_out
    assert summarize(s)["held_out_kinds"] == ["bumps", "random_walk"]
    np.testing.assert_array_equal(generate_signals(4, ["sine", "gp"], [SEED_NOISE], seed=1).pure, s.pure[:8])


def test_zero_sigma_is_noiseless():
    s = generate_signals(3, ["sawtooth"], [{"kind": "gaussian", "sigma": 0}])
    np.testing.assert_array_equal(s.noisy, s.pure)


# --- families -------------------------------------------------------------------------

@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_values_finite_order_one_and_varied(family):
    x = np.linspace(-0.5, 0.99, 150)
    y = FAMILIES[family](x, np.random.default_rng(0), 500)
    assert y.shape == (500, 150) and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert 0.5 < np.abs(y).max() < 3
    if family == "quadratic":
        assert np.all(y == y[0])
    else:
        assert y.std(axis=0).min() > 0.1


def test_square_takes_two_levels_per_row():
    y = FAMILIES["square"](np.linspace(-0.5, 0.99, 150), np.random.default_rng(0), 200)
    np.testing.assert_array_equal(np.abs(y), np.abs(y[:, :1]) * np.ones_like(y))
    assert np.all(y.max(axis=1) > 0) and np.all(y.min(axis=1) < 0)


@pytest.mark.parametrize("kind", ["steps", "piecewise"])
def test_steps_and_pieces_jump_at_their_breakpoints(kind):
    steps = np.abs(np.diff(FAMILIES[kind](np.linspace(-0.5, 0.99, 150), np.random.default_rng(0), 200), axis=1))
    with np.errstate(divide="ignore"):  # a flat signal between steps: its median step is 0, the ratio inf
        assert np.median(steps.max(1) / np.median(steps, 1)) > 20  # one step between neighbours dwarfs the rest


def test_gp_length_scale_sets_smoothness():
    """Short length scales wiggle more: zero crossings of the centred draws vary over a wide range."""
    y = FAMILIES["gp"](np.linspace(-0.5, 0.99, 150), np.random.default_rng(0), 500)
    crossings = np.diff(np.signbit(y - y.mean(1, keepdims=True)), axis=1).sum(1)
    assert crossings.min() <= 3 and crossings.max() >= 15


def test_chirp_frequency_rises():
    y = FAMILIES["chirp"](np.linspace(-0.5, 0.99, 150), np.random.default_rng(0), 500)
    crossings = np.diff(np.signbit(y), axis=1)
    assert crossings[:, 75:].sum() > 1.5 * crossings[:, :75].sum()


# --- argument guard -------------------------------------------------------------------
# params.yaml's signals section is validated at load (tests/unit/test_config.py); the generator
# only refuses arguments that would give a wrong set instead of an error.

@pytest.mark.parametrize(("override", "message"), [
    ({"families": ["sine", "chirp", "sine"]}, "family names must be distinct and at most 127; got 3, repeated: sine"),
    ({"held_out": ["sine"]}, "family names must be distinct and at most 127; got 2, repeated: sine"),
    ({"noises": [SEED_NOISE, dict(SEED_NOISE)]},
     "noise label names must be distinct and at most 127; got 2, repeated: gaussian_sigma0.05"),
    # one label (and one group in the files) for two sigmas that differ past 6 digits
    ({"noises": [SEED_NOISE, {"kind": "gaussian", "sigma": 0.0500000001}]},
     "noise label names must be distinct and at most 127; got 2, repeated: gaussian_sigma0.05"),
    ({"noises": [{"kind": "gaussian", "sigma": i / 1000} for i in range(128)]},  # labels are int8
     "noise label names must be distinct and at most 127; got 128, repeated: none"),
])
def test_generator_refuses_arguments_that_would_make_rows_ambiguous(override, message):
    kwargs = {"n_per_family": 2, "families": ["sine"], "noises": [SEED_NOISE]} | override
    with pytest.raises(ValueError) as info:
        generate_signals(**kwargs)
    assert str(info.value) == message


def test_generator_takes_127_noises_and_distinct_names():
    s = generate_signals(1, ["sine"], [{"kind": "gaussian", "sigma": i / 1000} for i in range(127)], held_out=["gp"])
    assert len(s.noise_names) == 127 and s.noise.max() == 126 and s.family_names == ("sine", "gp")


# --- property test --------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 4),
    length=st.integers(2, 64),
    seed=st.integers(0, 2**64 - 1),
    families=st.lists(st.sampled_from(list(FAMILIES)), min_size=1, max_size=3, unique=True),
    sigma=st.floats(0, 2),
)
def test_property_shapes_dtypes_determinism(n, length, seed, families, sigma):
    noises = [{"kind": "gaussian", "sigma": sigma}, {"kind": "dropout", "rate": 0.5}, {"kind": "relative", "sigma": sigma}]
    a = generate_signals(n, families, noises, length=length, seed=seed)
    total = n * len(families) * 3
    assert a.x.shape == (length,) and a.pure.shape == a.noisy.shape == (total, length)
    assert a.pure.dtype == a.noisy.dtype == np.float32
    assert np.all(np.isfinite(a.noisy))
    np.testing.assert_array_equal(np.bincount(a.family), np.full(len(families), n * 3))
    assert_same(a, generate_signals(n, families, noises, length=length, seed=seed))


# --- persistence ----------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    s = generate_signals(6, ["chirp", "quadratic"], ALL_NOISES, length=50, seed=4)
    path = tmp_path / "sub" / "signals.npz"
    save_signal_set(path, s)
    loaded = load_signal_set(path)
    assert_same(s, loaded)
    assert summarize(loaded) == summarize(s)
    assert [p.name for p in path.parent.iterdir()] == ["signals.npz"]  # no temp files left


def test_load_rejects_missing_and_malformed_files(tmp_path):
    with pytest.raises(DataError, match="nope.npz"):
        load_signal_set(tmp_path / "nope.npz")
    partial = tmp_path / "partial.npz"
    np.savez(partial, x=np.zeros(3, np.float32))
    with pytest.raises(DataError, match="missing arrays pure, noisy, family, noise, family_names"):
        load_signal_set(partial)
    bad_dtype = tmp_path / "bad.npz"
    s = generate_signals(2, ["sine"], [SEED_NOISE], length=5)
    arrays = {k: getattr(s, k) for k in ("x", "pure", "noisy", "family", "noise")}
    arrays["pure"] = s.pure.astype(np.float64)
    np.savez(bad_dtype, **arrays, family_names=["sine"], noise_names=["g"], held_out=np.array([], str))
    with pytest.raises(DataError, match="pure is float64"):
        load_signal_set(bad_dtype)


# --- groups, subsets and the generate_signals stage -----------------------------------

def test_group_index_names_and_take():
    s = generate_signals(3, ["sine", "square"], ALL_NOISES[:2], length=20)
    assert s.group_names() == [("sine", "gaussian_sigma0.05"), ("sine", "spikes_rate0.02_level1"),
                               ("square", "gaussian_sigma0.05"), ("square", "spikes_rate0.02_level1")]
    np.testing.assert_array_equal(s.group, np.repeat(np.arange(4), 3))
    part = s.take(s.group == 2)
    np.testing.assert_array_equal(part.noisy, block(s, "noisy", "square"))
    assert part.family_names == s.family_names and len(part.family) == 3


def stage_params(**signals_overrides) -> dict:
    signals = {"n_per_family": 4, "n_test_per_family": 3, "test_seed": 8, "length": 32, "x_start": 0.0,
               "x_step": 0.1, "families": ["sine", "chirp"], "held_out_kinds": ["bumps"], "noises": ALL_NOISES[:2],
               "sweep": {"lengths": [16], "n_per_family": 1, "noises": ALL_NOISES[:1]}}
    return {"seed": 7, "signals": signals | signals_overrides}


def test_stage_writes_a_training_and_a_held_out_test_file(tmp_path, monkeypatch):
    from pipeline.data.signals import TEST_FILE, TRAIN_FILE, sweep_file
    from pipeline.generate_signals import generate

    monkeypatch.chdir(tmp_path)
    summary = generate(stage_params())
    out = tmp_path / "data/processed/signals"
    train, test = load_signal_set(out / TRAIN_FILE), load_signal_set(out / TEST_FILE)
    assert (len(train.family), len(test.family)) == (24, 18)
    assert summary["train"]["n_samples"] == 24 and summary["test"]["n_samples"] == 18
    assert train.held_out == test.held_out == ("bumps",)
    assert set(summary["files"]) == {TRAIN_FILE, TEST_FILE, sweep_file("val", 16), sweep_file("test", 16)}
    assert json.loads((out / "summary.json").read_text()) == summary
    np.testing.assert_array_equal(train.x, test.x)
    assert not np.isin(test.noisy[:, 0], train.noisy[:, 0]).any()  # different draws
    assert not (tmp_path / "plots").exists()  # figures only where asked for


def test_stage_draws_one_sample_per_kind_and_noise_as_its_plots(tmp_path):
    from pipeline.generate_signals import generate

    figures = tmp_path / "plots" / "figures" / "generate_signals"
    generate(stage_params(), tmp_path / "signals", figures)
    assert [p.name for p in figures.iterdir()] == ["samples.png"]
    assert (figures / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in figures.parent.iterdir()] == ["generate_signals"]  # no temp folder left


def test_stage_figure_of_every_group_is_drawn_from_the_training_file():
    import matplotlib.pyplot as plt

    from pipeline.data_figures import signal_samples

    s = generate_signals(2, ["sine", "chirp"], ALL_NOISES[:3], length=32, seed=1, held_out=["bumps"])
    figure = signal_samples(s)
    axes = np.array(figure.axes).reshape(3, 3)
    first = axes[2, 1].lines[1].get_ydata()  # bumps (held out) x the second noise: its first pure signal
    np.testing.assert_array_equal(first, s.pure[np.flatnonzero(s.group == 7)[0]])
    assert "held out" in axes[2, 0].get_ylabel() and "held out" not in axes[0, 0].get_ylabel()
    plt.close(figure)


def test_a_bad_signal_setting_writes_neither_data_nor_figures(tmp_path):
    from pipeline.generate_signals import generate

    with pytest.raises(ValueError, match="distinct"):  # a kind both trained on and held out
        generate(stage_params(held_out_kinds=["sine"]), tmp_path / "signals", tmp_path / "figures")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("noise", [{"kind": "gaussian", "sigma": 0.05}, {"kind": "relative", "sigma": 0.1}])
def test_white_sigma_is_the_noise_each_signal_was_given(noise):
    s = generate_signals(50, ["sine", "steps"], [noise], length=2_000, seed=3)
    sigma = white_sigma(s.pure, noise["kind"], {"sigma": noise["sigma"]})
    np.testing.assert_allclose(np.std(s.noisy - s.pure, axis=-1), sigma, rtol=0.1)
    assert white_sigma(s.pure, "spikes", {"rate": 0.1, "level": 1.0}) is None
