"""The signal denoisers: the notebook's seed model and the improved U-Net; data split, evaluation, serving
(the gate: tests/unit/test_gates.py)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.config import load_params, model_params
from pipeline.data.signals import TEST_FILE, TRAIN_FILE, generate_signals, save_signal_set
from pipeline.errors import DataError, ParamsError, PayloadError
from pipeline.registry import MODELS
from pipeline.tasks import MAX_METRICS
from pipeline.tasks.signals.filters import CLASSICAL
from pipeline.tasks.signals.scoring import passes
from pipeline.models.signal_denoiser import SignalDenoiser, polynomial_trend, trend_fit_statistics
from pipeline.models.signal_denoiser_seed import SeedDenoiser
from pipeline.tasks.signals import NoiseRelativeMSE, input_example, prepare, training_plan
from pipeline.tasks.signals.scoring import evaluate, serve
from pipeline.train import fit_model, prepare_and_build
from pipeline.training import LOSSES, TrainConfig, count_parameters, fit, on_targets, single_phase

REPO = Path(__file__).resolve().parents[3]
CPU = torch.device("cpu")
FAMILIES = ["random_quadratic", "sine", "square"]
NOISES = [{"kind": "gaussian", "sigma": 0.05}, {"kind": "spikes", "rate": 0.02, "level": 1.0}]


# Tiny tensors: a second thread only adds synchronisation (and stalls on a busy machine).
# A module-scoped fixture: the module-scoped trainings below run on one thread too.
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def blocks():
    """Each model's whole block, its dataset's keys included (what train and evaluate hand a task)."""
    params = load_params(REPO / "params.yaml")
    return {name: model_params(params, name) for name in params["train"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    save_signal_set(root / TRAIN_FILE, generate_signals(20, FAMILIES, NOISES, seed=1))
    save_signal_set(root / TEST_FILE, generate_signals(8, FAMILIES, NOISES, seed=2))
    return root


@pytest.fixture(scope="module")
def held_out_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("held_out")
    save_signal_set(root / TRAIN_FILE, generate_signals(20, FAMILIES, NOISES, seed=1, held_out=["bumps"]))
    save_signal_set(root / TEST_FILE, generate_signals(8, FAMILIES, NOISES, seed=2, held_out=["bumps"]))
    return root


def small_denoiser(targets="raw"):
    torch.manual_seed(0)
    return SignalDenoiser(channels=8, levels=2, kernel_size=3, trend_degree=2, targets=targets)


def signals(n=16, length=150, seed=0):
    s = generate_signals(n, ["sine", "random_quadratic"], [NOISES[0]], length=length, seed=seed)
    return torch.from_numpy(s.noisy.copy()), torch.from_numpy(s.pure.copy())


# --- architecture ---------------------------------------------------------------------


def test_seed_model_is_the_notebooks_28737_parameters_and_150_points_in_and_out(blocks):
    model = MODELS["signal_denoiser_seed"].build(blocks["signal_denoiser_seed"], {"length": 150})
    assert isinstance(model, SeedDenoiser) and count_parameters(model) == 28_737
    convs = [m for m in model.net if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (1, 128, 3), (128, 32, 3), (32, 32, 3), (32, 128, 3), (128, 1, 3)]
    noisy, _ = signals()
    out = model(noisy)
    assert out.shape == noisy.shape and out.min() >= 0 and out.max() <= 1  # sigmoid, scaled units
    raw = model.denoise(noisy)
    assert torch.all(raw >= noisy.amin(1, keepdim=True) - 1e-5) and torch.all(raw <= noisy.amax(1, keepdim=True) + 1e-5)


def seed_plan(model, config):
    """The seed denoiser's own training plan: one phase on BCE, within max_norm."""
    spec = MODELS["signal_denoiser_seed"]
    return training_plan(spec, model, {"max_norm": model.max_norm}, config, on_targets(LOSSES[spec.loss]()))


def test_seed_model_keeps_every_kernel_vector_within_max_norm_during_training():
    torch.manual_seed(0)
    model = SeedDenoiser(max_norm=0.5)  # tight, so the constraint binds
    norms = lambda: torch.cat([m.weight.norm(dim=-1).flatten() for m in model.net if hasattr(m, "weight")])
    assert norms().max() <= 0.5 + 1e-5
    noisy, pure = signals(2, length=32)
    data = torch.utils.data.TensorDataset(noisy, pure.clamp(0, 1))
    config = TrainConfig(1, 2, 0.05, 0, 0)
    fit(model, data, data, seed_plan(model, config), config, device=CPU)
    assert norms().max() <= 0.5 + 1e-5


@pytest.mark.parametrize("length", [16, 17, 50, 150, 333])
def test_improved_model_returns_the_input_length(length):
    model = small_denoiser().eval()
    noisy, _ = signals(3, length)
    with torch.no_grad():
        assert model(noisy).shape == (6, length) and model.denoise(noisy).shape == (6, length)


def test_improved_model_answers_in_raw_units_whatever_the_scale_and_offset():
    model = small_denoiser().eval()
    noisy, _ = signals(4)
    with torch.no_grad():
        base = model.denoise(noisy)
        moved = model.denoise(1000 * noisy - 50)  # min-max scaling inside the model
    torch.testing.assert_close(moved, 1000 * base - 50, rtol=1e-4, atol=1e-2)


def test_improved_model_params_block_builds_the_configured_network(blocks):
    block = blocks["signal_denoiser"]
    model = MODELS["signal_denoiser"].build(block, {"length": 150})
    assert isinstance(model, SignalDenoiser) and model.levels == block["levels"]
    assert model.inp.out_channels == block["channels"]


def test_polynomial_trend_is_the_least_squares_fit_for_any_length():
    for length in (16, 150, 401):
        t = torch.linspace(-3, 7, length)
        quad = (0.5 - t + 0.2 * t * t).expand(2, 1, length)
        torch.testing.assert_close(polynomial_trend(quad, 2), quad, rtol=1e-4, atol=1e-4)
        wiggle = torch.sin(t * 5).expand(1, 1, length)
        residual = wiggle - polynomial_trend(wiggle, 2)
        basis = torch.stack([t**0, t, t * t])
        assert torch.allclose(residual @ basis.T, torch.zeros(3), atol=1e-2)  # orthogonal to {1, t, t^2}


def test_trend_fit_statistics_are_near_zero_only_for_a_quadratic_in_white_noise():
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(-1, 1, 150)
    quad = 0.3 + t - 0.8 * t * t
    noise = 0.02 * torch.randn(200, 1, 150, generator=g)
    spikes = torch.where(torch.rand(200, 1, 150, generator=g) < 0.02, 1.0, 0.0)

    def stats(z):
        return trend_fit_statistics(z, polynomial_trend(z, 2)).mean(0)

    misfit, glitchiness = stats(quad + noise)
    assert abs(misfit) < 0.3 and abs(glitchiness) < 0.3
    assert stats(torch.sin(9 * t) + noise)[0] > 3  # the trend misses structure
    assert stats(quad + spikes + noise)[1] > 1  # a few points carry the power


@pytest.mark.parametrize("targets", ["raw", "noisy_range"])
def test_improved_model_overfits_a_tiny_batch(targets):
    noisy, pure = signals(4, length=64)
    model = small_denoiser(targets)
    if targets == "noisy_range":
        from pipeline.tasks.signals import minmax

        _, low, span = minmax(noisy)
        pure = (pure - low) / span
    data = torch.utils.data.TensorDataset(noisy, pure)
    loss_fn = LOSSES["mse"]()
    before = loss_fn(model(noisy), pure).item()
    config = TrainConfig(100, 8, 5e-3, 0, 0)
    result = fit(model, data, data, single_phase(on_targets(loss_fn), config), config, device=CPU)
    assert result.best_val_loss < before * 0.1


def test_seed_model_fits_a_tiny_batch():
    noisy, pure = signals(4, length=48)  # fully convolutional: short signals train faster
    from pipeline.tasks.signals import minmax

    _, low, span = minmax(noisy)
    target = ((pure - low) / span).clamp(0, 1)
    torch.manual_seed(0)
    model = SeedDenoiser()
    mse = lambda: torch.mean((model(noisy) - target) ** 2).item()
    before = mse()
    data, config = torch.utils.data.TensorDataset(noisy, target), TrainConfig(40, 8, 3e-3, 0, 0)
    fit(model, data, data, seed_plan(model, config), config, device=CPU)
    assert mse() < before * 0.05


def test_noise_relative_loss_scores_the_identity_one_at_any_noise_level_and_unit():
    relative = NoiseRelativeMSE()
    g = torch.Generator().manual_seed(0)
    pure = torch.sin(torch.linspace(0, 6, 150)).repeat(3, 1)  # range 2
    noisy = pure + torch.tensor([[0.2], [0.6], [2.0]]) * torch.randn(3, 150, generator=g)  # 0.1, 0.3, 1 x range
    identity = relative(noisy, pure, noisy)
    assert identity.item() == pytest.approx(1.0, abs=0.01)  # the 0.01 x range floor moves it off 1 by <= 1 %
    assert relative(1000 * noisy, 1000 * pure, 1000 * noisy).item() == pytest.approx(identity.item(), rel=1e-5)
    assert relative(pure, pure, noisy).item() == 0
    # a noise-free input weighs like one with 1 % noise, not without bound
    assert relative(pure + 0.01, pure, pure).item() == pytest.approx(0.01**2 / (0.01 * 2) ** 2, rel=0.01)


def test_the_improved_model_trains_its_last_refine_epochs_on_the_noise_relative_loss(data_dir, blocks):
    params = load_params(REPO / "params.yaml")
    params["train"]["signal_denoiser"] = {**blocks["signal_denoiser"], "epochs": 3, "refine_epochs": 1,
                                          "channels": 4, "levels": 2, "patience": 0}
    spec = MODELS["signal_denoiser"]
    prepared, model = prepare_and_build(spec, params, data_dir)
    result = fit_model(spec, params, model, prepared, CPU)
    assert ["refine_val_loss" in row for row in result.history] == [False, False, True]
    assert all("val_mse_raw" in row for row in result.history)  # the task's figure, in both phases
    noisy, targets = prepared.val.tensors
    with torch.no_grad():
        outputs = model(noisy)
    # the refine loss picks the last phase's best epoch, whose weights the model ends with; the
    # rows' val_loss stays MSE
    assert result.best_epoch == 3
    assert NoiseRelativeMSE()(outputs, targets, noisy).item() == pytest.approx(result.best_val_loss, rel=1e-4)
    assert torch.nn.MSELoss()(outputs, targets).item() == pytest.approx(result.history[2]["val_loss"], rel=1e-4)


# --- data, evaluation and the gate ----------------------------------------------------


def test_prepare_splits_every_group_alike_and_keeps_the_test_file_apart(data_dir, blocks):
    block = {**blocks["signal_denoiser"], "split": {"train": 0.5, "val": 0.25}}
    prepared = prepare(data_dir, block, "train.signal_denoiser", 0)
    train, val = prepared.raw.get("train"), prepared.raw["val"]
    assert train is None and len(prepared.train) == 6 * 10 and len(prepared.val) == 6 * 5 and len(prepared.test) == 6 * 8
    assert np.all(np.bincount(val.group) == 5)
    assert prepared.meta["length"] == 150 and prepared.meta["families"] == FAMILIES
    seed_block = {**blocks["signal_denoiser_seed"], "split": {"train": 0.25, "val": 0.25}}
    seed_prepared = prepare(data_dir, seed_block, "train.signal_denoiser_seed", 0)
    np.testing.assert_array_equal(seed_prepared.raw["val"].noisy, val.noisy)  # same val => same tuned baselines
    targets = seed_prepared.train.tensors[1]
    assert targets.min() >= 0 and targets.max() <= 1  # scaled (BCE) targets


def test_seed_targets_are_the_pure_signal_on_the_noisy_inputs_range_or_on_its_own(data_dir, blocks):
    block = {**blocks["signal_denoiser_seed"], "split": {"train": 0.5, "val": 0.25}}
    assert block["targets"] == "noisy_range"  # the default: the scale serving reads back
    noisy, fixed = prepare(data_dir, block, "k", 0).train.tensors
    pure = torch.from_numpy(prepare(data_dir, {**block, "targets": "raw"}, "k", 0).train.tensors[1].numpy())
    low, high = noisy.amin(1, keepdim=True), noisy.amax(1, keepdim=True)
    torch.testing.assert_close(fixed, ((pure - low) / (high - low)).clamp(0, 1))
    _, own = prepare(data_dir, {**block, "targets": "pure_own_range"}, "k", 0).train.tensors
    plow, phigh = pure.amin(1, keepdim=True), pure.amax(1, keepdim=True)
    torch.testing.assert_close(own, (pure - plow) / (phigh - plow))  # the notebook's: every row spans 0..1
    assert torch.all(own.amin(1) == 0) and torch.all(own.amax(1) == 1)
    # read back on the input's range, the notebook's targets are stretched by the noise: a worse answer
    # than the fixed targets, even for a model that learned them exactly
    err = lambda scaled: torch.mean((low + (high - low) * scaled - pure) ** 2).item()
    assert err(own) > 2 * err(fixed)
    assert isinstance(MODELS["signal_denoiser_seed"].build({**block, "targets": "pure_own_range"}, {}), SeedDenoiser)
    with pytest.raises(ValueError, match="seed denoiser trains on one of noisy_range, pure_own_range"):
        SeedDenoiser(targets="raw")  # a sigmoid cannot answer in raw units


def test_prepare_never_puts_a_held_out_kind_in_a_training_or_validation_tensor(held_out_dir, blocks):
    prepared = prepare(held_out_dir, blocks["signal_denoiser"], "train.signal_denoiser", 0)
    assert prepared.meta["held_out_kinds"] == ["bumps"]
    val, test = prepared.raw["val"], prepared.raw["test"]
    bumps = val.family_names.index("bumps")
    assert np.sum(val.family == bumps) == 2 * 4 and np.sum(test.family == bumps) == 2 * 8  # kept to score
    assert len(prepared.train) == 6 * 15 and len(prepared.val) == 6 * 4  # the 6 trained groups only
    held_out_inputs = torch.from_numpy(val.noisy[val.family == bumps])
    for tensors in (prepared.train.tensors[0], prepared.val.tensors[0]):
        assert not (tensors[:, None, :] == held_out_inputs[None]).all(-1).any()


def test_prepare_negates_a_seeded_half_of_the_improved_models_training_and_validation_signals(data_dir, blocks):
    block = blocks["signal_denoiser"]
    assert block["sign_symmetric"]
    both = prepare(data_dir, block, "train.signal_denoiser", 0)
    plain = prepare(data_dir, {**block, "sign_symmetric": False}, "train.signal_denoiser", 0)
    for part in ("train", "val"):
        (x, y), (x0, y0) = getattr(both, part).tensors, getattr(plain, part).tensors
        negated = (x == -x0).all(1)
        assert (negated | (x == x0).all(1)).all() and 0.25 < negated.float().mean() < 0.75
        assert torch.equal(y[negated], -y0[negated]) and torch.equal(y[~negated], y0[~negated])
        assert torch.equal(x, getattr(prepare(data_dir, block, "train.signal_denoiser", 0), part).tensors[0])
    assert torch.equal(both.test.tensors[0], plain.test.tensors[0])  # scored as the data come
    np.testing.assert_array_equal(both.raw["val"].noisy, plain.raw["val"].noisy)  # the baselines' tuning too


@pytest.mark.parametrize("symmetric", [True, False])
def test_a_sign_symmetric_denoiser_serves_a_negated_signal_the_negated_answer(symmetric):
    torch.manual_seed(0)
    model = SignalDenoiser(channels=8, levels=2, kernel_size=3, trend_degree=2, targets="raw",
                           sign_symmetric=symmetric).eval()
    noisy = generate_signals(6, ["sawtooth", "sine"], NOISES, seed=3).noisy.astype(np.float64)
    base, negated = serve(model, {"length": 150}, noisy), serve(model, {"length": 150}, -noisy)
    odd = np.abs(negated["denoised"] + base["denoised"]).max() <= 1e-5 * np.ptp(noisy)
    assert odd == symmetric
    if symmetric:
        assert (negated["path"] == base["path"]).all()
        np.testing.assert_array_equal(negated["noise_sigma"], base["noise_sigma"])


def test_prepare_rejects_an_empty_split_and_a_test_file_from_other_params(data_dir, blocks, tmp_path):
    with pytest.raises(ParamsError, match="datasets.signals.split"):
        prepare(data_dir, {**blocks["signal_denoiser"], "split": {"train": 0.5, "val": 0.01}}, "datasets.signals", 0)
    save_signal_set(tmp_path / TRAIN_FILE, generate_signals(10, FAMILIES, NOISES, seed=1))
    save_signal_set(tmp_path / TEST_FILE, generate_signals(10, FAMILIES[:2], NOISES, seed=2))
    with pytest.raises(DataError, match="differ from the training file"):
        prepare(tmp_path, blocks["signal_denoiser"], "train.signal_denoiser", 0)


def test_evaluate_keeps_per_group_figures_in_tables_and_headlines_in_few_metrics(held_out_dir, blocks):
    block = blocks["signal_denoiser"]
    prepared = prepare(held_out_dir, block, "train.signal_denoiser", 0)
    evaluation = evaluate(small_denoiser().eval(), prepared, block)
    m = evaluation.metrics
    # every group's figures are a row of the gains table, not metrics named after the group
    assert len(m) <= MAX_METRICS and not any("sigma0.05" in name or "bumps" in name for name in m)
    rows = evaluation.tables["gains"]
    assert {(r["family"], r["noise"]) for r in rows} == {
        (f, n) for f in [*FAMILIES, "bumps"] for n in ("gaussian_sigma0.05", "spikes_rate0.02_level1")}
    for row in rows:
        assert {"model", "net", "fallback_share", "trend_share", "walk_share", "worse_share",
                "best_classical_worse_share", *CLASSICAL, "fallback_filter", "ls_bound"} <= set(row)
        assert (row["ls_bound"] != "") == (row["family"] == "random_quadratic")
    # the headline table: the model's figure beside its baselines', the same values as the metrics
    headline = {row["figure"]: row for row in evaluation.tables["headline"]}
    assert headline["test_snr_gain_db"] == {
        "figure": "test_snr_gain_db", "model": m["test_snr_gain_db"], "net": m["test_net_snr_gain_db"],
        "best_classical": m["baseline_best_classical_test_snr_gain_db"],
        **{name: m[f"baseline_{name}_test_snr_gain_db"] for name in CLASSICAL}}
    assert headline["test_held_out_worse_than_input_share"]["best_classical"] == \
        m["baseline_best_classical_test_held_out_worse_than_input_share"]
    assert m["test_groups"] == 6 and m["test_held_out_groups"] == 2 and all(isinstance(v, float) for v in m.values())
    rows = evaluation.tables["gains"]
    trained, held_out = [r for r in rows if not r["held_out"]], [r for r in rows if r["held_out"]]
    assert [r["family"] for r in held_out] == ["bumps", "bumps"]
    assert m["test_min_margin_db_vs_best_classical"] == pytest.approx(min(r["margin_db"] for r in trained), abs=1e-3)
    assert m["test_held_out_min_snr_gain_db"] == pytest.approx(min(r["model"] for r in held_out), abs=1e-3)
    assert m["test_held_out_worse_than_input_share"] == pytest.approx(np.mean([r["worse_share"] for r in held_out]), abs=1e-4)
    for row in rows:
        assert row["best_classical"] == max(row[k] for k in ("noisy", *CLASSICAL, "fallback_filter"))
    assert {(r["noise"], r["kinds"]) for r in evaluation.tables["noise_levels"]} == {
        (n, k) for n in ("gaussian_sigma0.05", "spikes_rate0.02_level1") for k in ("trained", "held_out")}
    assert [r["family"] for r in evaluation.tables["kinds"]] == [*FAMILIES, "bumps"]
    assert set(evaluation.figures) == {"gains", "examples"}
    # the gate counts the groups that pass their kind's rule (the tables are rounded to 4 decimals: a
    # margin within that of its bar may read either way there)
    for part, key in ((trained, "test_groups_passing"), (held_out, "test_held_out_groups_passing")):
        near_bar = sum(abs(r["margin_db"]) < 1e-3 or abs(r["margin_db"] + 1.0) < 1e-3 or abs(r["model"]) < 1e-3
                       for r in part)
        assert abs(m[key] - sum(map(passes, part))) <= near_bar
    assert evaluation.notes["held_out_kinds"] == "bumps"


# --- serving --------------------------------------------------------------------------


META = {"length": 150}


def test_serve_denoises_any_length_in_raw_units(data_dir, blocks):
    model = small_denoiser().eval()
    example = input_example(prepare(data_dir, blocks["signal_denoiser"], "train.signal_denoiser", 0))
    assert example.shape == (3, 150) and example.dtype == np.float32
    out = serve(model, META, example)
    assert out["denoised"].shape == example.shape and out["denoised"].dtype == np.float64  # the request's precision
    assert out["noise_sigma"].shape == out["path"].shape == out["fallback_share"].shape == (3,)
    for request in ([[0.1 * i for i in range(40)]] * 2, pd.DataFrame(np.ones((2, 16)))):
        assert serve(model, META, request)["denoised"].shape == np.shape(request)
    for level in (0.0, -3e7, 1e-20):  # a constant signal comes back as it came, whatever its level
        np.testing.assert_array_equal(serve(model, META, np.full((2, 16), level))["denoised"], level)


def test_seed_model_serves_only_its_training_length():
    model = SeedDenoiser().eval()
    assert serve(model, META, np.zeros((2, 150)))["denoised"].shape == (2, 150)
    with pytest.raises(PayloadError) as info:
        serve(model, META, np.zeros((2, 100)))
    assert str(info.value) == "this model takes signals of exactly 150 points, got 100"


def test_serve_uses_a_given_noise_level_and_reports_it():
    model = small_denoiser().eval()
    request = np.sin(np.linspace(0, 6, 64))[None].repeat(2, 0) + 0.1 * np.random.default_rng(0).standard_normal((2, 64))
    estimated = serve(model, META, request)["noise_sigma"]
    assert np.all(np.abs(estimated - 0.1) < 0.04)  # the default: estimated from each signal
    np.testing.assert_allclose(serve(model, META, request, params={"noise_sigma": 0.02})["noise_sigma"], [0.02] * 2, rtol=1e-6)
    np.testing.assert_array_equal(serve(model, META, request, params={"noise_sigma": None})["noise_sigma"], estimated)
    # zero is a level too: the caller knows the signals are noiseless
    np.testing.assert_array_equal(serve(model, META, request, params={"noise_sigma": 0})["noise_sigma"], [0.0] * 2)


def test_the_guard_reads_a_signal_at_float32_precision():
    """The guard works in float32 on each signal centred and scaled: digits a float32 cannot hold
    change nothing in the answer, and the classical share comes back as float32."""
    model = small_denoiser().eval()
    rng = np.random.default_rng(1)
    x = np.sin(np.linspace(0, 6, 64))[None].repeat(2, 0) + 0.1 * rng.standard_normal((2, 64))
    low, high = x.min(1, keepdims=True), x.max(1, keepdims=True)
    x = 2 * (x - low) / (high - low) - 1  # each signal spans -1..1 exactly: centred and scaled already
    rounded = x.astype(np.float32).astype(np.float64)
    assert not np.array_equal(rounded, x)
    full, short = serve(model, META, x), serve(model, META, rounded)
    for key in ("denoised", "noise_sigma", "path", "fallback_share"):
        np.testing.assert_array_equal(full[key], short[key], err_msg=key)
    assert full["fallback_share"].dtype == np.float32


def test_a_bad_noise_level_is_shown_in_a_message_of_at_most_200_characters():
    with pytest.raises(PayloadError) as info:
        serve(small_denoiser().eval(), META, np.zeros((1, 20)), params={"noise_sigma": [0.5] * 100})
    start = ("params.noise_sigma: expected a finite number >= 0 (the noise's standard deviation in the signals' "
             "units), got [0.5, 0.5")
    assert str(info.value).startswith(start) and len(str(info.value)) == 200


@pytest.mark.parametrize("value, shown", [(-0.1, "-0.1"), (float("nan"), "nan"), (float("inf"), "inf"), ("0.1", "'0.1'"),
                                          (True, "True"), ([0.1], "[0.1]")])
def test_serve_rejects_a_bad_noise_level_and_names_the_param(value, shown):
    with pytest.raises(PayloadError) as info:
        serve(small_denoiser().eval(), META, np.zeros((1, 20)), params={"noise_sigma": value})
    assert str(info.value) == ("params.noise_sigma: expected a finite number >= 0 (the noise's standard deviation "
                               f"in the signals' units), got {shown}")


BAD_REQUESTS = [
    (np.zeros((2, 15)), "signals must have at least 16 points, got 15"),
    (np.array([[0.0] * 20, [np.nan] + [0.0] * 19]), "signal 1, point 0: expected a finite number"),
    (np.array([[0.0] * 19 + [np.inf]]), "signal 0, point 19: expected a finite number"),
    ([[0.0] * 20, [0.0] * 5 + [None] + [0.0] * 14], "signal 1, point 5: expected a finite number"),  # JSON null
    ([[None] + ["a"] * 19], "signals must be rows of numbers of equal length"),
    ([[True] * 20], "signals must be rows of numbers of equal length"),
    ([["a"] * 20], "signals must be rows of numbers of equal length"),
    ([[0.0] * 20, [0.0] * 21], "signals must be rows of numbers of equal length"),
    (np.zeros(20), "expected a batch of signals (a 2-D array: signals x points), got 1 dimension(s)"),
    (np.zeros((1, 20, 1)), "expected a batch of signals (a 2-D array: signals x points), got 3 dimension(s)"),
    (np.zeros((0, 20)), "expected at least one signal"),
]


@pytest.mark.parametrize(("request_", "message"), BAD_REQUESTS, ids=range(len(BAD_REQUESTS)))
def test_serve_rejects_malformed_requests_without_echoing_them(request_, message):
    """The whole message, which names the place but never repeats a bad value back."""
    with pytest.raises(PayloadError) as info:
        serve(small_denoiser().eval(), META, request_)
    assert str(info.value) == message


TRAIN_ONLY = """
import sys
from pathlib import Path
import torch
from pipeline.config import load_params
from pipeline.registry import MODELS
from pipeline.train import fit_model, prepare_and_build

params = load_params()
block = params["train"]["signal_denoiser"]
params["train"]["signal_denoiser"] = {**block, "epochs": 1, "refine_epochs": 0, "channels": 4, "batch_size": 64}
spec = MODELS["signal_denoiser"]
package = Path(sys.modules["pipeline.tasks.signals"].__file__).parent
ran = set()

def record(frame, event, arg):
    code = frame.f_code
    if event == "call" and Path(code.co_filename).parent == package:
        ran.add(f"{Path(code.co_filename).name}:{code.co_name}")

sys.setprofile(record)
prepared, model = prepare_and_build(spec, params, sys.argv[1])
fit_model(spec, params, model, prepared, torch.device("cpu"))
sys.setprofile(None)
print(" ".join(sorted(ran)))
"""


def test_training_runs_none_of_the_scoring_modules_its_stage_does_not_depend_on(data_dir):
    """dvc.yaml's train stage depends on pipeline/tasks/signals/__init__.py alone (of the task
    package), so what a training run executes must live there: the scoring, guard and classical
    filters are for evaluate and serve, and changing them re-runs evaluate, not training. (The
    registry imports every module of the package; importing runs none of their functions.)"""
    done = subprocess.run([sys.executable, "-c", TRAIN_ONLY, str(data_dir)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = done.stdout.split()
    assert "__init__.py:prepare" in ran and "__init__.py:training_plan" in ran
    assert [name for name in ran if not name.startswith("__init__.py:")] == []
