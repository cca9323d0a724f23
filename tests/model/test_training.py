"""The shared training loop and the stock RNN: shapes, overfitting, determinism, early stop, phases,
callbacks and the batches' sharing out across processes."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from pipeline.registry import MODELS
from pipeline.models.stock_rnn import StockRNN
from pipeline.training import (
    LOSSES,
    Callback,
    EpochFigures,
    EpochLog,
    Phase,
    Plan,
    Sharding,
    TrainConfig,
    adam,
    count_parameters,
    fit,
    on_targets,
    single_phase,
)

loss_fn = LOSSES["mse"]()
CPU = torch.device("cpu")


def train(model, train_set, val_set, config, **kwargs):
    """One phase on MSE, as most models train."""
    return fit(model, train_set, val_set, single_phase(on_targets(loss_fn), config), config, device=CPU, **kwargs)

SEED_BLOCK = {"hidden_size": 10, "num_layers": 5, "head_hidden": 100}
SEED_META = {"features": ["Open", "High", "Low"], "window": 30}


def tiny_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 30, 3, generator=g)
    y = x[:, -1, :1] * 0.5 + 0.1  # a learnable target
    return TensorDataset(x, y)


def test_seed_architecture_shapes_and_parameter_count():
    model = MODELS["stock_rnn"].build(SEED_BLOCK, SEED_META)
    assert model(torch.zeros(7, 30, 3)).shape == (7, 1)
    # RNN: 150 + 4 * 220 = 1030; Linear(300, 100) = 30100; Linear(100, 1) = 101
    assert count_parameters(model) == 31231
    assert model.head[1].in_features == 30 * 10  # whole output sequence flattened


def test_overfits_a_tiny_batch():
    data = tiny_data(32)
    torch.manual_seed(0)
    model = StockRNN(3, 30, 16, 2, 64)
    before = loss_fn(model(data.tensors[0]), data.tensors[1]).item()
    result = train(model, data, data, TrainConfig(epochs=150, batch_size=32, lr=3e-3, patience=0, seed=0))
    assert result.best_val_loss < before * 0.02
    assert len(result.history) == 150


def test_same_seed_same_losses_other_seed_differs():
    def run(seed):
        torch.manual_seed(123)  # fit must not depend on the caller's RNG state
        model = StockRNN(3, 30, 8, 2, 16)
        cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, patience=0, seed=seed)
        return [row["val_loss"] for row in train(model, tiny_data(), tiny_data(seed=1), cfg).history]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_history_carries_time_task_metrics_and_the_throughput():
    data = tiny_data(64)
    model = StockRNN(3, 30, 8, 2, 16)
    calls, logged = [], []

    def epoch_metrics(m):
        calls.append(m is model)
        with torch.no_grad():
            return {"val_abs_error": float((m(data.tensors[0]) - data.tensors[1]).abs().mean())}

    result = train(model, data, data, TrainConfig(epochs=3, batch_size=16, lr=1e-3, patience=0, seed=0),
                   callbacks=[EpochFigures(epoch_metrics), EpochLog(lambda row: logged.append(dict(row)))])
    assert calls == [True] * 3
    assert [set(row) for row in result.history] == [{"epoch", "train_loss", "val_loss", "seconds",
                                                     "val_abs_error"}] * 3
    assert logged == result.history  # the log sees each row whole, the figures added before it
    seconds = [row["seconds"] for row in result.history]
    assert seconds == sorted(seconds) and seconds[-1] <= result.seconds
    assert result.samples_per_s > 3 * 64 / result.seconds  # training passes only: faster than the whole fit
    assert 0 < result.data_loading_share < 1


def test_early_stopping_keeps_the_best_epoch_weights():
    train_set, val = tiny_data(64), tiny_data(64, seed=5)  # val unrelated to train: val loss stops improving
    model = StockRNN(3, 30, 16, 2, 64)
    cfg = TrainConfig(epochs=200, batch_size=16, lr=1e-2, patience=5, seed=0)
    result = train(model, train_set, val, cfg)
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
        train(model, data, data, TrainConfig(1, 16, 1e-3, 0, 0))


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


def test_a_later_phase_trains_on_its_own_loss_and_keeps_the_first_losss_curve():
    seen = []

    def tagged(name, loss):
        def fn(outputs, targets, inputs):
            seen.append(name)
            return loss(outputs, targets)
        return fn

    data = tiny_data(32)
    model = StockRNN(3, 30, 8, 2, 16)
    config = TrainConfig(epochs=5, batch_size=32, lr=1e-3, patience=0, seed=0)
    first = tagged("first", loss_fn)
    refine = Phase(tagged("refine", torch.nn.L1Loss()), 2, adam(1e-4), "refine", first)
    plan = Plan((Phase(first, 3, adam(1e-3)), refine))
    result = fit(model, data, data, plan, config, device=CPU)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    # one training batch and one validation batch per epoch; in the second phase, the first loss is
    # measured on the same outputs
    assert seen == ["first"] * 3 * 2 + ["refine", "first"] * 2 * 2
    assert result.best_epoch in (4, 5)  # the best epoch of the second phase
    with torch.no_grad():
        outputs = model(data.tensors[0])
    l1 = torch.nn.L1Loss()(outputs, data.tensors[1]).item()
    assert l1 == pytest.approx(result.best_val_loss, rel=1e-5)  # its weights are the ones loaded back
    # train_loss/val_loss are the first loss in every row; the second phase's own sits beside them
    best = result.history[result.best_epoch - 1]
    assert best["refine_val_loss"] == pytest.approx(l1, rel=1e-5)
    assert best["val_loss"] == pytest.approx(loss_fn(outputs, data.tensors[1]).item(), rel=1e-5)
    assert all("refine_val_loss" not in row for row in result.history[:3])


def test_a_phase_names_its_columns_exactly_when_it_keeps_another_curve():
    mse = on_targets(loss_fn)
    with pytest.raises(ValueError, match="names its own loss's columns"):
        Phase(mse, 2, adam(1e-3), "refine")
    with pytest.raises(ValueError, match="names its own loss's columns"):
        Phase(mse, 2, adam(1e-3), curve=mse)


def test_early_stopping_ends_the_phase_not_the_training():
    train_set, val = tiny_data(64), tiny_data(64, seed=5)
    model = StockRNN(3, 30, 16, 2, 64)
    mse = on_targets(loss_fn)
    plan = Plan((Phase(mse, 200, adam(1e-2)), Phase(mse, 3, adam(1e-4))))
    result = fit(model, train_set, val, plan, TrainConfig(203, 16, 1e-2, 5, 0), device=CPU)
    assert result.stopped_early
    first_phase = len(result.history) - 3  # stopped early, then the second phase ran in full
    assert first_phase < 200 and [row["epoch"] for row in result.history[-3:]] == [first_phase + i for i in (1, 2, 3)]


def test_step_callbacks_run_after_every_optimizer_step():
    class Steps(Callback):
        def __init__(self):
            self.count, self.epochs = 0, []

        def on_step_end(self, state):
            self.count += 1

        def on_epoch_end(self, state):
            self.epochs.append(state.epoch)

    steps = Steps()
    model = StockRNN(3, 30, 4, 1, 4)
    train(model, tiny_data(40), tiny_data(8), TrainConfig(3, 16, 1e-3, 0, 0), callbacks=[steps])
    assert steps.count == 3 * 3 and steps.epochs == [1, 2, 3]  # 40 samples in batches of 16: 3 steps an epoch


def test_each_rank_trains_on_its_share_of_a_batch_weighted_by_it():
    batch = (torch.arange(5.0), torch.arange(5.0) * 10)
    (inputs, targets), weight = Sharding(rank=1, world=2).share(batch)
    assert inputs.tolist() == [1.0, 3.0] and targets.tolist() == [10.0, 30.0]
    assert weight == pytest.approx(2 * 2 / 5)  # DDP averages over ranks: the weights undo it
    (inputs, _), weight = Sharding(rank=0, world=2).share(batch)
    assert inputs.tolist() == [0.0, 2.0, 4.0] and weight == pytest.approx(2 * 3 / 5)
    assert Sharding(rank=0, world=8).share(batch) is None  # too small for every rank: all skip it
    assert Sharding().share(batch) == (batch, 1.0)
