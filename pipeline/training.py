"""The one training loop every model uses: seeds, device, early stopping, per-epoch metrics."""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm


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


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) inside a `torchrun` process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def show_progress() -> bool:
    """Progress bars only for a person at a terminal, never in CI logs."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class NoiseRelativeMSE(nn.Module):
    """For denoisers whose inputs and targets share units: each sample's squared error over its
    input's (its noise's power), averaged. The identity scores 1 at every noise level, so a signal
    with 1 % noise counts as much as one with 30 % (plain MSE is ruled by the noisiest). The noise
    power has a floor of (0.01 x the target's range)^2: an input without noise (sparse glitches
    that missed a signal) would otherwise weigh without bound."""

    takes_inputs = True

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        span = targets.amax(-1) - targets.amin(-1)
        noise = (inputs - targets).square().mean(-1) + (0.01 * span).square()
        return ((outputs - targets).square().mean(-1) / noise.clamp_min(1e-12)).mean()


LOSSES: dict[str, Callable[[], nn.Module]] = {"mse": nn.MSELoss, "bce": nn.BCELoss,
                                               "noise_relative_mse": NoiseRelativeMSE}


def model_losses(spec) -> dict[str, Callable | None]:
    """fit()'s loss keywords for a ModelSpec: its loss, and its refine loss if it has one."""
    return {"loss_fn": LOSSES[spec.loss](), "refine_loss_fn": LOSSES[spec.refine_loss]() if spec.refine_loss else None}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int  # in all, refine_epochs included
    batch_size: int
    lr: float
    patience: int  # 0 = train all epochs
    seed: int
    refine_epochs: int = 0  # the last epochs train on the model's refine loss (a fresh Adam at refine_lr)
    refine_lr: float = 0.0

    @classmethod
    def from_params(cls, block: dict, seed: int) -> TrainConfig:
        return cls(block["epochs"], block["batch_size"], block["lr"], block["patience"], seed,
                   block.get("refine_epochs", 0), block.get("refine_lr", 0.0))


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, val_loss, seconds so far
    best_epoch: int = 0  # of the last phase, by its own loss
    best_val_loss: float = float("inf")  # the last phase's loss: with refine_epochs, refine_val_loss
    seconds: float = 0.0
    stopped_early: bool = False
    samples_per_s: float = 0.0  # training samples per second of the training passes (validation excluded)
    data_loading_share: float = 0.0  # of the training passes' time, the share spent making batches


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
    samples: int
    seconds: float
    loading_seconds: float  # of `seconds`, waiting for the next batch
    monitored: float | None = None  # mean of `monitor_fn` over the same outputs, when one is given


def _loss(fn, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    return fn(outputs, targets, inputs) if getattr(fn, "takes_inputs", False) else fn(outputs, targets)


def _run_epoch(model, batch_iter, loss_fn, device, optimizer=None, monitor_fn=None) -> _Pass:
    """One pass over the batches; trains when an optimizer is given. `monitor_fn`, a second loss,
    is only measured on the same outputs (no gradient).

    Under DistributedDataParallel each rank trains on its share (rank::world) of every
    batch; its loss is weighted by that share so that DDP's gradient average equals the
    single-process gradient of the whole batch.
    """
    training = optimizer is not None
    rank, world = rank_and_world() if training else (0, 1)
    model.train(training)
    constrain = getattr(getattr(model, "module", model), "constrain_", None)  # optional weight constraint
    total, monitored = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    count, loading = 0, 0.0
    started = time.perf_counter()
    with torch.set_grad_enabled(training):
        while True:
            fetch = time.perf_counter()
            batch = next(batch_iter, None)
            loading += time.perf_counter() - fetch
            if batch is None:
                break
            inputs, targets = batch
            if world > 1:
                if len(inputs) < world:  # too small to give every rank a share: skipped by all ranks
                    continue
                share = world * len(inputs[rank::world]) / len(inputs)
                inputs, targets = inputs[rank::world], targets[rank::world]
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            outputs = model(inputs)
            loss = _loss(loss_fn, outputs, targets, inputs)
            if training:
                optimizer.zero_grad(set_to_none=True)
                (loss * share if world > 1 else loss).backward()
                optimizer.step()
                if constrain is not None:
                    constrain()
            total += loss.detach().double().cpu() * len(inputs)
            if monitor_fn is not None:
                with torch.no_grad():
                    monitored += _loss(monitor_fn, outputs.detach(), targets, inputs).double().cpu() * len(inputs)
            count += len(inputs)
    if world > 1:  # the epoch's losses over every rank's samples
        totals = torch.tensor([total.item(), monitored.item(), float(count)], dtype=torch.float64)
        dist.all_reduce(totals)
        total, monitored, count = totals[0], totals[1], int(totals[2].item())
    return _Pass(float(total) / count, count, time.perf_counter() - started, loading,
                 None if monitor_fn is None else float(monitored) / count)


def fit(
    model: nn.Module,
    train_set: TensorDataset,
    val_set: TensorDataset,
    loss_fn: Callable,
    config: TrainConfig,
    on_epoch: Callable[[dict], None] | None = None,
    device: torch.device | None = None,
    epoch_metrics: Callable[[nn.Module], dict[str, float]] | None = None,
    refine_loss_fn: Callable | None = None,
) -> FitResult:
    """Train with Adam; keep the weights of the best validation epoch and load them back.
    `epoch_metrics(model)` adds figures of the task's own to each epoch's row (see pipeline.tasks).

    With config.refine_epochs, training has two phases: `loss_fn` at config.lr, then the last
    refine_epochs on `refine_loss_fn` with a fresh Adam at config.refine_lr, starting from the
    first phase's best weights. Early stopping ends a phase after `patience` epochs without a
    new best val loss (of the phase's own loss). Each history row's train_loss/val_loss are
    `loss_fn`'s in both phases, one curve to read across them; refine rows add the refine loss
    as refine_train_loss/refine_val_loss.
    """
    device = device or select_device()
    seed_everything(config.seed)
    model.to(device)
    train_set, val_set = to_device(train_set, device), to_device(val_set, device)
    rank, world = rank_and_world()
    trained = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    # every rank draws the same batch order from the same seed and takes its share of each batch
    shuffle_rng = torch.Generator().manual_seed(config.seed)
    val_batch = max(config.batch_size, 256)
    # (loss trained on, lr, epochs, loss only measured: the first one, while refining)
    phases = [(loss_fn, config.lr, config.epochs - config.refine_epochs, None)]
    if config.refine_epochs:
        if refine_loss_fn is None:
            raise ValueError("refine_epochs > 0 needs a refine_loss_fn")
        phases.append((refine_loss_fn, config.refine_lr, config.refine_epochs, loss_fn))

    result = FitResult()
    started = time.perf_counter()
    trained_samples = training_seconds = loading_seconds = 0.0
    bar = tqdm(total=config.epochs, desc="train", unit="epoch", disable=rank > 0 or not show_progress())
    epoch = 0
    for phase_loss, lr, phase_epochs, monitor_fn in phases:
        optimizer = torch.optim.Adam(trained.parameters(), lr=lr)
        result.best_val_loss, result.best_epoch = float("inf"), epoch
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for epoch in range(epoch + 1, epoch + phase_epochs + 1):
            train_pass = _run_epoch(trained, batches(train_set, config.batch_size, shuffle_rng), phase_loss, device,
                                    optimizer, monitor_fn)
            val_pass = _run_epoch(model, batches(val_set, val_batch), phase_loss, device, monitor_fn=monitor_fn)
            train_loss, val_loss = train_pass.loss, val_pass.loss  # every rank: the same val loss
            if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
                raise FloatingPointError(f"loss became {train_loss} / {val_loss} at epoch {epoch}; lower the lr")
            trained_samples += train_pass.samples
            training_seconds += train_pass.seconds
            loading_seconds += train_pass.loading_seconds
            losses = {"train_loss": train_loss, "val_loss": val_loss} if monitor_fn is None else {
                "train_loss": train_pass.monitored, "val_loss": val_pass.monitored,
                "refine_train_loss": train_loss, "refine_val_loss": val_loss}
            row = {"epoch": epoch, **losses, "seconds": round(time.perf_counter() - started, 3),
                   **(epoch_metrics(model) if epoch_metrics else {})}
            result.history.append(row)
            if on_epoch:
                on_epoch(row)
            if val_loss < result.best_val_loss:
                result.best_val_loss, result.best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bar.update()
            bar.set_postfix(train=f"{train_loss:.3g}", val=f"{val_loss:.3g}", best=result.best_epoch)
            if config.patience and epoch - result.best_epoch >= config.patience:
                result.stopped_early = True
                break
        model.load_state_dict(best_state)
    bar.close()
    result.seconds = time.perf_counter() - started
    result.samples_per_s = trained_samples / training_seconds
    result.data_loading_share = loading_seconds / training_seconds
    model.eval()
    return result


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
