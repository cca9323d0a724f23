"""The task contract: the registry holds task and network classes that implement it, the optional
hooks' defaults leave the shared loop as it is, and params validation stays torch-free."""
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pipeline.config import load_params
from pipeline.model_params import MODEL_PARAMS
from pipeline.registry import MODELS, check_model
from pipeline.tasks import Task, stock, task_class
from pipeline.tasks.signals.task import SignalsTask
from pipeline.tasks.stock import StockTask
from pipeline.training import TrainConfig, on_targets

REPO = Path(__file__).resolve().parents[2]
BLOCKS = load_params(REPO / "params.yaml")["train"]
# per dataset, what its networks' from_params read of the prepared meta
META = {"stock": {"features": ["Open", "High", "Low"], "window": 30}, "lotto": {"window": 10},
        "signals": {"length": 150}, "mnist": {}}


def test_every_registered_model_names_its_own_params_task_and_network():
    assert list(MODELS) == list(MODEL_PARAMS)
    for spec in MODELS.values():
        assert issubclass(spec.task, Task)
        assert spec.dataset == spec.task.dataset
        network = spec.build(BLOCKS[spec.name], META[spec.dataset])
        assert isinstance(network, spec.network)


def test_a_task_missing_part_of_the_contract_is_refused_with_what_it_lacks():
    class HalfStock(Task):
        dataset = "stock"
        prepare = staticmethod(stock.prepare)
        gate = staticmethod(stock.gate)

    with pytest.raises(TypeError) as info:
        replace(MODELS["stock_rnn"], task=HalfStock)
    assert str(info.value) == "stock_rnn: HalfStock lacks evaluate, input_example, serve"


def test_a_params_class_of_another_dataset_is_refused():
    module = SimpleNamespace(__name__="pipeline.models.stock_rnn", SPEC=MODELS["stock_rnn"])
    check_model(module, MODEL_PARAMS["stock_rnn"])
    with pytest.raises(TypeError, match=r"stock_rnn: LottoRNNParams.dataset must be Literal\['stock'\]"):
        check_model(module, MODEL_PARAMS["lotto_rnn"])


def test_a_refine_loss_and_refine_params_go_together():
    module = SimpleNamespace(__name__="pipeline.models.signal_denoiser", SPEC=MODELS["signal_denoiser"])
    with pytest.raises(TypeError, match="signal_denoiser: a refine_loss needs RefineParams"):
        check_model(module, MODEL_PARAMS["signal_denoiser_seed"])


def test_a_model_module_is_named_after_its_model():
    module = SimpleNamespace(__name__="pipeline.models.stock_lstm", SPEC=MODELS["stock_rnn"])
    with pytest.raises(TypeError, match="pipeline.models.stock_lstm holds the spec of 'stock_rnn'"):
        check_model(module, MODEL_PARAMS["stock_rnn"])


def test_the_default_hooks_train_one_phase_on_the_loss_and_log_no_figures():
    spec = MODELS["stock_rnn"]
    config = TrainConfig(epochs=7, batch_size=4, lr=0.01, patience=0, seed=0)
    loss = on_targets(torch.nn.MSELoss())
    plan = StockTask.training_plan(spec, None, {}, config, loss)
    assert [(phase.loss, phase.epochs, phase.name) for phase in plan.phases] == [(loss, 7, "")]
    assert plan.callbacks == ()
    assert StockTask.epoch_metrics(None, None) == {}
    assert StockTask.serve_params == {} and StockTask.summary_tables == {}


def test_the_signal_task_declares_its_own_hooks():
    assert SignalsTask.training_plan is not Task.training_plan
    assert SignalsTask.epoch_metrics is not Task.epoch_metrics
    assert set(SignalsTask.serve_params) == {"noise_sigma"}
    assert set(SignalsTask.summary_tables) == {"noise_levels", "sweep_cells"}


def test_validating_params_loads_no_torch():
    code = ("import sys; from pipeline.config import load_params; load_params('params.yaml'); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('pipeline.tasks')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[]"]


def test_a_task_class_takes_only_the_contracts_parts():
    made = task_class("HalfStock", "stock", __name__, prepare=stock.prepare, gate=stock.gate, serve_params={"x": 1})
    assert issubclass(made, Task) and made.dataset == "stock" and made.serve_params == {"x": 1}
    assert made.prepare is stock.prepare and made.__module__ == __name__
    with pytest.raises(TypeError) as info:
        replace(MODELS["stock_rnn"], task=made)
    assert str(info.value) == "stock_rnn: HalfStock lacks evaluate, input_example, serve"
    with pytest.raises(TypeError, match="HalfStock: prepaer not in the task contract"):
        task_class("HalfStock", "stock", __name__, prepaer=stock.prepare)
