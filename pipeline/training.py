"""The one training loop every model uses: seeds, device, steps, phases of epochs, callbacks.

`fit` trains through a Plan's phases (each: a loss, an optimizer, epochs) with `train_step` and
`eval_step`, calling its callbacks after each optimizer step and at each epoch's and phase's end:
RestoreBest and EarlyStopping always, a task's own (a weight constraint) and a caller's (logging).
Under torchrun, Sharding (pipeline.sharding) shares every batch out across the processes. What a
model trains in beyond one phase on its loss belongs to its task (`training_plan`, see pipeline.tasks).
"""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from .sharding import Sharding


def seed_everything(seed: int) -> None:
    """Seeds every generator and asks for deterministic kernels, so that the same params give the
    same metrics on a GPU too (cuDNN's autotuner and some CUDA kernels vary run to run; cuBLAS
    reads its workspace setting at its first use, which comes later)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def select_device() -> torch.device:
    """CUDA when present (a torchrun process: its LOCAL_RANK's GPU); `PIPELINE_DEVICE=cpu`
    forces the CPU (e.g. to compare runs)."""
    requested = os.environ.get("PIPELINE_DEVICE", "auto")
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(requested)


def show_progress() -> bool:
    """Progress bars only for a person at a terminal, never in CI logs."""
    return sys.stderr.isatty() and not os.environ.get("CI")


# Every loss the loop calls: (outputs, targets, inputs) -> the batch's mean loss. Inputs are there
# for losses that weigh by them; a loss of (outputs, targets) alone goes through `on_targets`.
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def on_targets(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> LossFn:
    """A loss of (outputs, targets), such as nn.MSELoss(), called the way the loop calls every loss."""
    return lambda outputs, targets, inputs: loss(outputs, targets)


LOSSES: dict[str, Callable[[], nn.Module]] = {"mse": nn.MSELoss, "bce": nn.BCELoss}  # ModelSpec.loss


def adam(lr: float) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
    return partial(torch.optim.Adam, lr=lr)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    patience: int  # 0 = train all epochs of every phase
    seed: int

    @classmethod
    def from_params(cls, block: dict, seed: int) -> TrainConfig:
        return cls(block["epochs"], block["batch_size"], block["lr"], block["patience"], seed)


@dataclass(frozen=True)
class Phase:
    """Epochs on one loss with a fresh optimizer, starting from the previous phase's best weights.
    Its loss on the validation set picks its best epoch, whose weights it ends with."""

    loss: LossFn
    epochs: int
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]  # e.g. adam(lr)
    # A later phase may keep an earlier one's curve: `curve` is measured on the same outputs (no
    # gradient) and logged as train_loss/val_loss, one curve to read across phases, and the phase's
    # own loss as <name>_train_loss/<name>_val_loss.
    name: str = ""
    curve: LossFn | None = None

    def __post_init__(self):
        if bool(self.name) != (self.curve is not None):
            raise ValueError("a phase names its own loss's columns exactly when it keeps another loss's curve")


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    callbacks: tuple[Callback, ...] = ()  # the task's own, e.g. a weight constraint after every step


def single_phase(loss: LossFn, config: TrainConfig) -> Plan:
    """What most models train in: config.epochs on their loss, with Adam at config.lr."""
    return Plan((Phase(loss, config.epochs, adam(config.lr)),))


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, val_loss, seconds so far
    best_epoch: int = 0  # of the last phase, by its own loss
    best_val_loss: float = float("inf")  # the last phase's own loss (a named phase's <name>_val_loss)
    seconds: float = 0.0
    stopped_early: bool = False
    samples_per_s: float = 0.0  # training samples per second of the training passes (validation excluded)
    data_loading_share: float = 0.0  # of the training passes' time, the share spent making batches


@dataclass
class FitState:
    """What callbacks see. `row` is the epoch's history row: a callback may add columns to it, which
    the callbacks after it (logging) see."""

    model: nn.Module  # the model itself, also under DistributedDataParallel
    result: FitResult
    phase: Phase | None = None
    epoch: int = 0  # the current (or last run) epoch, counted across phases
    train_loss: float = float("nan")  # the epoch's, of the phase's own loss
    val_loss: float = float("nan")
    row: dict = field(default_factory=dict)
    stop: bool = False  # set by a callback: the phase ends after this epoch


class Callback:
    """Hooks fit() calls, on each of its callbacks in their order."""

    def on_phase_start(self, state: FitState) -> None: ...
    def on_step_end(self, state: FitState) -> None: ...  # after each optimizer step
    def on_epoch_end(self, state: FitState) -> None: ...
    def on_phase_end(self, state: FitState) -> None: ...
    def on_fit_end(self, state: FitState) -> None: ...


class RestoreBest(Callback):
    """Keeps a copy of the weights of the phase's best epoch so far; loads it back at the phase's end."""

    def _keep(self, state: FitState) -> None:
        self.best = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    def on_phase_start(self, state: FitState) -> None:
        self._keep(state)

    def on_epoch_end(self, state: FitState) -> None:
        if state.result.best_epoch == state.epoch:
            self._keep(state)

    def on_phase_end(self, state: FitState) -> None:
        state.model.load_state_dict(self.best)


@dataclass
class EarlyStopping(Callback):
    """Ends a phase after `patience` epochs without a new best validation loss (of its own loss)."""

    patience: int

    def on_epoch_end(self, state: FitState) -> None:
        if state.epoch - state.result.best_epoch >= self.patience:
            state.stop = state.result.stopped_early = True


@dataclass
class EpochFigures(Callback):
    """Adds `figures(model)` (a task's own validation figures) to each epoch's row."""

    figures: Callable[[nn.Module], dict[str, float]]

    def on_epoch_end(self, state: FitState) -> None:
        state.row.update(self.figures(state.model))


@dataclass
class EpochLog(Callback):
    """Hands each epoch's row, with what the callbacks before it added, to `log`."""

    log: Callable[[dict], None]

    def on_epoch_end(self, state: FitState) -> None:
        self.log(state.row)


class ProgressBar(Callback):
    def __init__(self, epochs: int, disable: bool):
        from tqdm.auto import tqdm  # training's alone: a task module serving a model imports this one

        self.bar = tqdm(total=epochs, desc="train", unit="epoch", disable=disable)

    def on_epoch_end(self, state: FitState) -> None:
        self.bar.update()
        self.bar.set_postfix(train=f"{state.train_loss:.3g}", val=f"{state.val_loss:.3g}",
                             best=state.result.best_epoch)

    def on_fit_end(self, state: FitState) -> None:
        self.bar.close()


def train_step(model: nn.Module, batch: tuple, loss: LossFn, optimizer: torch.optim.Optimizer,
               weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on (inputs, targets) -> (the batch's loss, the outputs), detached. `weight`
    scales the gradient (a rank's share of the batch, see Sharding)."""
    inputs, targets = batch
    outputs = model(inputs)
    value = loss(outputs, targets, inputs)
    optimizer.zero_grad(set_to_none=True)
    (value * weight if weight != 1 else value).backward()
    optimizer.step()
    return value.detach(), outputs.detach()


@torch.no_grad()
def eval_step(model: nn.Module, batch: tuple, loss: LossFn) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) -> (the batch's loss, the outputs), without gradients."""
    inputs, targets = batch
    outputs = model(inputs)
    return loss(outputs, targets, inputs), outputs


def batches(data: TensorDataset, batch_size: int, generator: torch.Generator | None = None):
    """(inputs, targets) batches by slicing whole tensors: no per-sample Python calls, so data
    loading stays negligible next to the model. Shuffled when a generator is given."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if generator is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield tuple(t[start : start + batch_size] for t in data.tensors)
        else:
            index = order[start : start + batch_size]
            yield tuple(t[index.to(t.device)] for t in data.tensors)


def to_device(data: TensorDataset, device: torch.device) -> TensorDataset:
    """The whole dataset on the training device once (these datasets are at most a few hundred
    MB), instead of one host-to-device copy per batch; a no-op on the CPU."""
    if device.type == "cpu":
        return data
    return TensorDataset(*(t.to(device) for t in data.tensors))


@dataclass
class _Pass:
    loss: float  # mean over the samples
    curve: float  # mean of the phase's curve loss, when it has one
    samples: int
    seconds: float
    loading_seconds: float  # of `seconds`, waiting for the next batch


def _run_epoch(batch_iter, step, device: torch.device, sharding: Sharding, curve: LossFn | None) -> _Pass:
    """One pass: `step(batch, weight)` -> (loss, outputs) on this rank's share of each batch; the
    losses are averaged over every rank's samples. `curve` is only measured on the same outputs."""
    total, curved = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    count, loading = 0, 0.0
    started = time.perf_counter()
    while True:
        fetch = time.perf_counter()
        batch = next(batch_iter, None)
        loading += time.perf_counter() - fetch
        if batch is None:
            break
        shared = sharding.share(batch)
        if shared is None:
            continue
        (inputs, targets), weight = shared
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        loss, outputs = step((inputs, targets), weight)
        total += loss.double().cpu() * len(inputs)
        if curve is not None:
            with torch.no_grad():
                curved += curve(outputs, targets, inputs).double().cpu() * len(inputs)
        count += len(inputs)
    total, curved, count = sharding.sum(float(total), float(curved), count)
    return _Pass(total / count, curved / count, int(count), time.perf_counter() - started, loading)


def fit(model: nn.Module, train_set: TensorDataset, val_set: TensorDataset, plan: Plan, config: TrainConfig,
        callbacks: Iterable[Callback] = (), device: torch.device | None = None) -> FitResult:
    """Train `model` through `plan`'s phases in batches of config.batch_size, with RestoreBest, an
    EarlyStopping of config.patience (when > 0), the plan's callbacks and then `callbacks`. The
    model ends with the best epoch's weights of the last phase."""
    device = device or select_device()
    seed_everything(config.seed)
    model.to(device)
    train_set, val_set = to_device(train_set, device), to_device(val_set, device)
    sharding = Sharding.current()
    trained = sharding.wrap(model, device)
    shuffle_rng = torch.Generator().manual_seed(config.seed)
    val_batch = max(config.batch_size, 256)
    callbacks = [RestoreBest(), *([EarlyStopping(config.patience)] if config.patience else []),
                 *plan.callbacks, *callbacks,
                 ProgressBar(sum(p.epochs for p in plan.phases), sharding.rank > 0 or not show_progress())]
    state = FitState(model, FitResult())
    result = state.result
    started = time.perf_counter()
    trained_samples = training_seconds = loading_seconds = 0.0
    for phase in plan.phases:
        optimizer = phase.optimizer(trained.parameters())
        state.phase, state.stop = phase, False
        result.best_val_loss, result.best_epoch = float("inf"), state.epoch
        for callback in callbacks:
            callback.on_phase_start(state)

        def step(batch, weight):
            out = train_step(trained, batch, phase.loss, optimizer, weight)
            for callback in callbacks:
                callback.on_step_end(state)
            return out

        for _ in range(phase.epochs):
            state.epoch += 1
            trained.train()
            train_pass = _run_epoch(batches(train_set, config.batch_size, shuffle_rng), step, device, sharding,
                                    phase.curve)
            model.eval()  # every rank: the whole validation set, the same val loss
            val_pass = _run_epoch(batches(val_set, val_batch), lambda batch, _: eval_step(model, batch, phase.loss),
                                  device, Sharding(), phase.curve)
            train_loss, val_loss = state.train_loss, state.val_loss = train_pass.loss, val_pass.loss
            if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
                raise FloatingPointError(f"loss became {train_loss} / {val_loss} at epoch {state.epoch}; lower the lr")
            trained_samples += train_pass.samples
            training_seconds += train_pass.seconds
            loading_seconds += train_pass.loading_seconds
            losses = {"train_loss": train_loss, "val_loss": val_loss} if phase.curve is None else {
                "train_loss": train_pass.curve, "val_loss": val_pass.curve,
                f"{phase.name}_train_loss": train_loss, f"{phase.name}_val_loss": val_loss}
            state.row = {"epoch": state.epoch, **losses, "seconds": round(time.perf_counter() - started, 3)}
            result.history.append(state.row)
            if val_loss < result.best_val_loss:
                result.best_val_loss, result.best_epoch = val_loss, state.epoch
            for callback in callbacks:
                callback.on_epoch_end(state)
            if state.stop:
                break
        for callback in callbacks:
            callback.on_phase_end(state)
    for callback in callbacks:
        callback.on_fit_end(state)
    result.seconds = time.perf_counter() - started
    result.samples_per_s = trained_samples / training_seconds
    result.data_loading_share = loading_seconds / training_seconds
    model.eval()
    return result


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
