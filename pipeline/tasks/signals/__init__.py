"""Signals task: denoise 1-D signals, scored per family x noise next to classical filters.

This module is what training needs: the per-signal scaling and the denoisers' shared wrapper
(MinMaxDenoiser; each network is in its model's module, pipeline/models/signal_denoiser*.py), the
data, how each trains (training_plan: a weight constraint, the improved model's refine phase on
NoiseRelativeMSE) and the per-epoch figure. The rest of the task lives in the modules beside it,
which dvc.yaml's train stage does not depend on, so a change to how a denoiser is scored, guarded
or served re-runs `evaluate`, not training:

- filters.py: the noise an input carries, estimated from the input alone; the classical filters
  (the baselines, and the guard's fallback candidates); the random-walk expert;
- baselines.py: two more baselines, wavelet shrinkage and total-variation denoising (evaluation
  alone runs them);
- guard.py: the do-no-harm guard (guarded_denoise), what is served and scored;
- scoring.py: the SNR gain, the evaluation next to the tuned classical filters, its figures, the
  gate, and serving;
- task.py: SignalsTask, the task's contract, naming the functions of all of them.

Imports run one way, task -> scoring -> guard -> filters -> baselines, each of them but baselines
-> this module.
How each part works and why it is built that way, the guard's bounds included: docs/denoiser.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ...data.signals import TEST_FILE, TRAIN_FILE, SignalSet, load_signal_set
from ...errors import DataError, ParamsError
from ...training import Callback, FitState, LossFn, Phase, Plan, TrainConfig, adam, single_phase
from .. import Prepared

MIN_LENGTH = 16  # shortest signal the improved model accepts (and params allow)


# --- per-signal min-max scaling -------------------------------------------------------


def minmax(noisy: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, L) -> each signal scaled to [0, 1] by its own min and max, plus (low, span) to undo it. A
    span below `eps` x the signal's largest magnitude counts as that much, so a constant signal stays
    constant, in whatever unit it comes."""
    low, high = noisy.amin(-1, keepdim=True), noisy.amax(-1, keepdim=True)
    floor = (eps * torch.maximum(low.abs(), high.abs())).clamp_min(torch.finfo(noisy.dtype).tiny)
    span = torch.maximum(high - low, floor)
    return (noisy - low) / span, low, span


# What a denoiser trains to answer (params' `targets`). The two scaled kinds answer on [0, 1] (a
# sigmoid, binary cross-entropy), which serving reads back on the noisy input's range, the one range
# an answer can know:
# - noisy_range: the pure signal on its noisy input's [0, 1] range (clipped to it for BCE), the scale
#   serving reads; the seed denoiser's default;
# - pure_own_range: the notebook's, each pure signal min-max scaled on its own range. A served
#   answer cannot know that range, so it comes back on the wrong scale: stretched to the noisy
#   input's range, wider than the pure signal's by the noise.
# - raw: the pure signal in the input's units (the improved model's).
SCALED_TARGETS = ("noisy_range", "pure_own_range")
TARGETS = (*SCALED_TARGETS, "raw")


def to_training_units(noisy: torch.Tensor, scaled: torch.Tensor, targets: str) -> torch.Tensor:
    """Signals on their noisy input's [0, 1] scale -> the units a model trains in (`targets`): the
    scaled kinds as they are, `raw` back in the input's units."""
    if targets in SCALED_TARGETS:
        return scaled
    if targets != "raw":
        raise ValueError(f"targets {targets!r}: expected one of {', '.join(TARGETS)}")
    _, low, span = minmax(noisy)
    return low + span * scaled


class MinMaxDenoiser(nn.Module):
    """Takes raw signals (N, L); scales each by its own min-max around `core` (N, 1, L) -> (N, 1, L).

    forward() answers in the units the model trains on (`targets`, see to_training_units);
    denoise() always answers in raw units.
    """

    fixed_length = False  # True: serves only signals of the training length
    max_norm: float | None = None  # a bound on each kernel vector's norm, kept by constrain_() after every step
    trend_degree = -1  # the degree of the polynomial expert the guard may take whole; -1: none

    def __init__(self, targets: str):
        super().__init__()
        self.targets = targets

    def core(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scaled(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.core(minmax(noisy)[0].unsqueeze(1)).squeeze(1)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return to_training_units(noisy, self.scaled(noisy), self.targets)

    def denoise(self, noisy: torch.Tensor) -> torch.Tensor:
        return to_training_units(noisy, self.scaled(noisy), "raw")

    def constrain_(self) -> None:
        """Bring the weights back within `max_norm` (a network that sets one provides this)."""
        raise NotImplementedError


def stratified_split(signal_set: SignalSet, train: float, val: float, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, val) taking the same fractions of every family x noise group.

    Validation is each group's first `val` fraction and training the next `train` fraction,
    so models with the same `val` share their validation signals (and tuned baselines).
    Rows within a group are independent draws: no shuffle is needed here.
    """
    train_rows, val_rows = [], []
    for g in np.unique(signal_set.group):
        rows = np.flatnonzero(signal_set.group == g)
        n_val, n_train = int(len(rows) * val), int(len(rows) * train)
        if min(n_val, n_train) < 1:
            raise ParamsError(key, f"train={train:g}, val={val:g} of {len(rows)} signals per family x noise "
                                   "leaves an empty part; raise signals.n_per_family")
        val_rows.append(rows[:n_val])
        train_rows.append(rows[n_val : n_val + n_train])
    return np.concatenate(train_rows), np.concatenate(val_rows)


def training_targets(noisy: torch.Tensor, pure: torch.Tensor, targets: str) -> torch.Tensor:
    """(N, L) pure signals -> what a model with these `targets` trains to answer (see TARGETS)."""
    if targets == "pure_own_range":  # the notebook's: each pure signal on its own [0, 1] range
        return minmax(pure)[0]
    _, low, span = minmax(noisy)
    scaled = (pure - low) / span
    if targets == "noisy_range":  # clipped for BCE: the noise can take a pure point outside its input's range
        scaled = scaled.clamp(0, 1)
    return to_training_units(noisy, scaled, targets)


def _tensors(s: SignalSet, targets: str) -> TensorDataset:
    noisy, pure = torch.from_numpy(s.noisy.copy()), torch.from_numpy(s.pure.copy())
    return TensorDataset(noisy, training_targets(noisy, pure, targets))


def _with_both_signs(tensors: TensorDataset, block: dict, seed: int, part: int) -> TensorDataset:
    """With the block's `sign_symmetric` (targets in the inputs' units), the signals with a seeded
    half of them negated, inputs and targets alike: the families come in one orientation (a
    sawtooth rises), and a network trained on them served -x up to 2 dB worse (docs/denoiser.md,
    "The network", both signs).
    Otherwise `tensors` as they are."""
    if not block.get("sign_symmetric"):  # the seed denoiser's block has no such key: the notebook's data
        return tensors
    noisy, targets = tensors.tensors
    flip = np.random.default_rng([seed, part]).random(len(noisy)) < 0.5
    sign = torch.from_numpy(np.where(flip, -1.0, 1.0).astype(np.float32))[:, None]
    return TensorDataset(noisy * sign, targets * sign)


def _layout(s: SignalSet) -> tuple:
    return s.family_names, s.noise_names, s.held_out


class SignalsRaw(TypedDict):
    """Prepared.raw: validation and test sets in raw units, held-out kinds included; `data_dir`, where
    the evaluation reads the sweep's files (sweep.py; training does not read them)."""

    val: SignalSet
    test: SignalSet
    data_dir: Path


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared[SignalsRaw]:
    full = load_signal_set(Path(data_dir) / TRAIN_FILE)
    test = load_signal_set(Path(data_dir) / TEST_FILE)
    if _layout(full) != _layout(test) or not np.array_equal(full.x, test.x):
        raise DataError(Path(data_dir) / TEST_FILE, "grid, families, held-out kinds or noises differ from the "
                                                    "training file; regenerate both with "
                                                    "`python -m pipeline.generate_signals`")
    train_rows, val_rows = stratified_split(full, block["split"]["train"], block["split"]["val"], f"{key}.split")
    train, val = full.take(train_rows), full.take(val_rows)
    meta = {
        "length": len(full.x),
        "families": list(full.family_names),
        "noises": list(full.noise_names),
        "held_out_kinds": list(full.held_out),
    }
    return Prepared(  # held-out kinds: in `raw` (to tune the classical filters, to score), never in a tensor
        train=_with_both_signs(_tensors(train.take(train.trainable), block["targets"]), block, seed, 1),
        val=_with_both_signs(_tensors(val.take(val.trainable), block["targets"]), block, seed, 2),
        test=_tensors(test, block["targets"]),
        meta=meta,
        raw={"val": val, "test": test, "data_dir": Path(data_dir)},
    )


# --- training ---------------------------------------------------------------------------


class NoiseRelativeMSE(nn.Module):
    """For denoisers whose inputs and targets share units: each sample's squared error over its
    input's (its noise's power), averaged. The identity scores 1 at every noise level, so a signal
    with 1 % noise counts as much as one with 30 % (plain MSE is ruled by the noisiest). The noise
    power has a floor of (0.01 x the target's range)^2: an input without noise (sparse glitches
    that missed a signal) would otherwise weigh without bound."""

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        span = targets.amax(-1) - targets.amin(-1)
        noise = (inputs - targets).square().mean(-1) + (0.01 * span).square()
        return ((outputs - targets).square().mean(-1) / noise.clamp_min(1e-12)).mean()


REFINE_LOSSES = {"noise_relative_mse": NoiseRelativeMSE}  # ModelSpec.refine_loss


class MaxNorm(Callback):
    """The seed denoiser's Keras max_norm constraint, after every optimizer step."""

    def on_step_end(self, state: FitState) -> None:
        state.model.constrain_()


def training_plan(spec, model: MinMaxDenoiser, block: dict, config: TrainConfig, loss: LossFn) -> Plan:
    """A network with a max_norm (the seed denoiser): one phase on its loss, its weights kept within
    it. A model with a refine loss: its last `refine_epochs` of `epochs` on that loss with a fresh
    Adam at `refine_lr`, from the first phase's best weights; they log the first loss as
    train_loss/val_loss, one curve across both phases, and their own as
    refine_train_loss/refine_val_loss."""
    if model.max_norm is not None:
        return Plan(single_phase(loss, config).phases, (MaxNorm(),))
    refine = block.get("refine_epochs", 0)
    phases = [Phase(loss, config.epochs - refine, adam(config.lr))]
    if refine:
        phases.append(Phase(REFINE_LOSSES[spec.refine_loss](), refine, adam(block["refine_lr"]), "refine", loss))
    return Plan(tuple(phases))


@torch.inference_mode()
def denoise(model: MinMaxDenoiser, noisy: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw noisy signals (N, L) -> denoised (N, L) float32 in the same units. In batches of 256: the
    activations stay in the CPU's caches (larger batches ran slower on CPU)."""
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.denoise(torch.tensor(noisy[i : i + batch_size], dtype=torch.float32, device=device))
        for i in range(0, len(noisy), batch_size)
    ]
    return torch.cat(parts).cpu().numpy()


def epoch_metrics(model: MinMaxDenoiser, prepared: Prepared[SignalsRaw]) -> dict[str, float]:
    """Per epoch: the validation MSE in the signals' own units, one scale for both denoisers (the
    seed's BCE on [0, 1]-scaled targets and the improved model's MSE are not comparable)."""
    val = prepared.raw["val"]
    return {"val_mse_raw": float(np.mean(np.square(denoise(model, val.noisy) - val.pure, dtype=np.float64)))}


def input_example(prepared: Prepared[SignalsRaw]) -> np.ndarray:
    """Three raw test signals, one per row, from the first, middle and last family."""
    noisy = prepared.raw["test"].noisy
    return np.ascontiguousarray(noisy[np.linspace(0, len(noisy) - 1, 3).astype(int)])
