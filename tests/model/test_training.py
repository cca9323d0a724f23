"""The shared training loop and the stock RNN: shapes, overfitting, determinism, early stop."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from pipeline.models import MODELS
from pipeline.tasks import build_model
from pipeline.tasks.stock import StockRNN
from pipeline.training import LOSSES, TrainConfig, count_parameters, fit

loss_fn = LOSSES["mse"]()

SEED_BLOCK = {"hidden_size": 10, "num_layers": 5, "head_hidden": 100}
SEED_META = {"features": ["Open", "High", "Low"], "window": 30}


def tiny_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 30, 3, generator=g)
    y = x[:, -1, :1] * 0.5 + 0.1  # a learnable target
    return TensorDataset(x, y)


def test_seed_architecture_shapes_and_parameter_count():
    model = build_model(MODELS["stock_rnn"], SEED_BLOCK, SEED_META)
    assert model(torch.zeros(7, 30, 3)).shape == (7, 1)
    # RNN: 150 + 4 * 220 = 1030; Linear(300, 100) = 30100; Linear(100, 1) = 101
    assert count_parameters(model) == 31231
    assert model.head[1].in_features == 30 * 10  # whole output sequence flattened


def test_overfits_a_tiny_batch():
    data = tiny_data(32)
    torch.manual_seed(0)
    model = StockRNN(3, 30, 16, 2, 64)
    before = loss_fn(model(data.tensors[0]), data.tensors[1]).item()
    result = fit(model, data, data, loss_fn, TrainConfig(epochs=150, batch_size=32, lr=3e-3, patience=0, seed=0),
                 device=torch.device("cpu"))
    assert result.best_val_loss < before * 0.02
    assert len(result.history) == 150


def test_same_seed_same_losses_other_seed_differs():
    def run(seed):
        torch.manual_seed(123)  # fit must not depend on the caller's RNG state
        model = StockRNN(3, 30, 8, 2, 16)
        cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, patience=0, seed=seed)
        return [row["val_loss"] for row in fit(model, tiny_data(), tiny_data(seed=1), loss_fn, cfg,
                                               device=torch.device("cpu")).history]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_history_carries_time_task_metrics_and_the_throughput():
    data = tiny_data(64)
    model = StockRNN(3, 30, 8, 2, 16)
    calls = []

    def epoch_metrics(m):
        calls.append(m is model)
        with torch.no_grad():
            return {"val_abs_error": float((m(data.tensors[0]) - data.tensors[1]).abs().mean())}

    result = fit(model, data, data, loss_fn, TrainConfig(epochs=3, batch_size=16, lr=1e-3, patience=0, seed=0),
                 device=torch.device("cpu"), epoch_metrics=epoch_metrics)
    assert calls == [True] * 3
    assert [set(row) for row in result.history] == [{"epoch", "train_loss", "val_loss", "seconds",
                                                     "val_abs_error"}] * 3
    seconds = [row["seconds"] for row in result.history]
    assert seconds == sorted(seconds) and seconds[-1] <= result.seconds
    assert result.samples_per_s > 3 * 64 / result.seconds  # training passes only: faster than the whole fit
    assert 0 < result.data_loading_share < 1


def test_early_stopping_keeps_the_best_epoch_weights():
    train, val = tiny_data(64), tiny_data(64, seed=5)  # val unrelated to train: val loss stops improving
    model = StockRNN(3, 30, 16, 2, 64)
    cfg = TrainConfig(epochs=200, batch_size=16, lr=1e-2, patience=5, seed=0)
    result = fit(model, train, val, loss_fn, cfg, device=torch.device("cpu"))
    assert result.stopped_early and len(result.history) == result.best_epoch + 5
    with torch.no_grad():
        restored = loss_fn(model(val.tensors[0]), val.tensors[1]).item()
    assert restored == pytest.approx(result.best_val_loss, rel=1e-5)


def test_diverging_loss_is_reported():
    data = tiny_data(16)
    model = StockRNN(3, 30, 4, 1, 4)
    with torch.no_grad():
        model.head[-1].bias.fill_(np.inf)
    with pytest.raises(FloatingPointError, match="lower the lr"):
        fit(model, data, data, loss_fn, TrainConfig(1, 16, 1e-3, 0, 0), device=torch.device("cpu"))


class _Payload:
    """Stands for arbitrary code a tampered checkpoint could carry."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoints_load_as_data_only(tmp_path):
    import pickle

    from pipeline.tasks import load_checkpoint, save_checkpoint

    model = StockRNN(3, 30, **SEED_BLOCK)
    save_checkpoint(tmp_path / "good.pt", model, SEED_META)
    loaded = load_checkpoint(tmp_path / "good.pt")
    assert loaded["meta"] == SEED_META and set(loaded["state_dict"]) == set(model.state_dict())

    torch.save({"state_dict": model.state_dict(), "meta": _Payload()}, tmp_path / "tampered.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_checkpoint(tmp_path / "tampered.pt")


def test_noise_relative_loss_scores_the_identity_one_at_any_noise_level_and_unit():
    relative = LOSSES["noise_relative_mse"]()
    g = torch.Generator().manual_seed(0)
    pure = torch.sin(torch.linspace(0, 6, 150)).repeat(3, 1)  # range 2
    noisy = pure + torch.tensor([[0.2], [0.6], [2.0]]) * torch.randn(3, 150, generator=g)  # 0.1, 0.3, 1 x range
    identity = relative(noisy, pure, noisy)
    assert identity.item() == pytest.approx(1.0, abs=0.01)  # the 0.01 x range floor moves it off 1 by <= 1 %
    assert relative(1000 * noisy, 1000 * pure, 1000 * noisy).item() == pytest.approx(identity.item(), rel=1e-5)
    assert relative(pure, pure, noisy).item() == 0
    # a noise-free input weighs like one with 1 % noise, not without bound
    assert relative(pure + 0.01, pure, pure).item() == pytest.approx(0.01**2 / (0.01 * 2) ** 2, rel=0.01)


def test_refine_epochs_train_the_last_epochs_on_the_refine_loss():
    seen = []

    def tagged(name, loss):
        def fn(outputs, targets):
            seen.append(name)
            return loss(outputs, targets)
        return fn

    data = tiny_data(32)
    model = StockRNN(3, 30, 8, 2, 16)
    config = TrainConfig(epochs=5, batch_size=32, lr=1e-3, patience=0, seed=0, refine_epochs=2, refine_lr=1e-4)
    result = fit(model, data, data, tagged("first", loss_fn), config, device=torch.device("cpu"),
                 refine_loss_fn=tagged("refine", torch.nn.L1Loss()))
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    # one training batch and one validation batch per epoch; while refining, the first loss is
    # measured on the same outputs
    assert seen == ["first"] * 3 * 2 + ["refine", "first"] * 2 * 2
    assert result.best_epoch in (4, 5)  # the best epoch of the refine phase
    with torch.no_grad():
        outputs = model(data.tensors[0])
    l1 = torch.nn.L1Loss()(outputs, data.tensors[1]).item()
    assert l1 == pytest.approx(result.best_val_loss, rel=1e-5)  # its weights are the ones loaded back
    # train_loss/val_loss are the first loss in every row; the refine loss sits beside them
    best = result.history[result.best_epoch - 1]
    assert best["refine_val_loss"] == pytest.approx(l1, rel=1e-5)
    assert best["val_loss"] == pytest.approx(loss_fn(outputs, data.tensors[1]).item(), rel=1e-5)
    assert all("refine_val_loss" not in row for row in result.history[:3])
    with pytest.raises(ValueError, match="refine_loss_fn"):
        fit(model, data, data, loss_fn, config, device=torch.device("cpu"))
