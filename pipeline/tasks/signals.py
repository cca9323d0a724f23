"""Signals task: denoise 1-D signals, scored per family x noise next to classical filters.

This module is what training needs: the per-signal scaling, the two networks (the notebook's
autoencoder and the residual U-Net), the data, how each trains (training_plan: the seed's max-norm
constraint, the improved model's refine phase on NoiseRelativeMSE) and the per-epoch figure. The rest of the task
lives in the modules beside it, which dvc.yaml's train stage does not depend on, so a change to how
a denoiser is scored, guarded or served re-runs `evaluate`, not training:

- signal_filters.py: the noise an input carries, estimated from the input alone; the classical
  filters (the baselines, and the guard's fallback candidates); the random-walk expert;
- signal_guard.py: the do-no-harm guard (guarded_denoise), what is served and scored;
- signal_scoring.py: the SNR gain, the evaluation next to the tuned classical filters, its
  figures, the gate, and serving.

How each part works and why it is built that way, the guard's bounds included: docs/denoiser.md
(the measurements that chose a bound sit in the comment beside it).
"""
from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from ..data.signals import TEST_FILE, TRAIN_FILE, SignalSet, load_signal_set
from ..errors import DataError, ParamsError
from ..training import Callback, FitState, LossFn, Phase, Plan, TrainConfig, adam, single_phase
from . import Evaluation, Prepared, Task, Verdict

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


def to_training_units(noisy: torch.Tensor, scaled: torch.Tensor, targets: str) -> torch.Tensor:
    """Signals on their noisy input's [0, 1] scale -> the units a model trains in:
    `scaled` as they are (the notebook's), `raw` back in the input's units."""
    if targets == "scaled":
        return scaled
    _, low, span = minmax(noisy)
    return low + span * scaled


class MinMaxDenoiser(nn.Module):
    """Takes raw signals (N, L); scales each by its own min-max around `core` (N, 1, L) -> (N, 1, L).

    forward() answers in the units the model trains on (`targets`, see to_training_units);
    denoise() always answers in raw units.
    """

    fixed_length = False  # True: serves only signals of the training length
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


class SeedDenoiser(MinMaxDenoiser):
    """The notebook's Keras autoencoder: valid convs down, transposed convs back, sigmoid out.

    Conv1D(128,k3,relu) -> Conv1D(32,k3,relu) -> ConvTranspose1D(32,k3,relu) ->
    ConvTranspose1D(128,k3,relu) -> Conv1D(1,k3,same,sigmoid); 28,737 parameters. He-uniform
    kernels, zero biases, and Keras' max_norm(2.0) (default axis 0 = the kernel-width axis:
    every (in, out) kernel vector is rescaled to norm <= 2) after each optimizer step.
    Its input shape is fixed, (150, 1) in the notebook: it serves the training length only.
    """

    fixed_length = True

    def __init__(self, max_norm: float = 2.0):
        super().__init__("scaled")
        self.max_norm = max_norm
        self.net = nn.Sequential(
            nn.Conv1d(1, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 32, 3), nn.ReLU(),
            nn.ConvTranspose1d(32, 128, 3), nn.ReLU(),
            nn.Conv1d(128, 1, 3, padding=1), nn.Sigmoid(),
        )
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # Keras he_uniform
                nn.init.zeros_(layer.bias)
        self.constrain_()

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SeedDenoiser:
        return cls(block["max_norm"])

    def core(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Keras max_norm: applied after every optimizer step (MaxNorm, in its training plan)."""
        for layer in self.net:
            if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
                norm = layer.weight.norm(dim=-1, keepdim=True)
                layer.weight.mul_(norm.clamp(max=self.max_norm) / norm.clamp_min(1e-7))


class _Stage(nn.Module):
    """Two 'same' convolutions with a residual connection, at one resolution."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding="same")
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding="same")

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.gelu(self.conv1(F.gelu(h))))


def polynomial_trend(z: torch.Tensor, degree: int) -> torch.Tensor:
    """Least-squares fit of a polynomial of `degree` along the last axis, for any length."""
    t = torch.linspace(-1, 1, z.shape[-1], dtype=torch.float64, device=z.device)
    q, _ = torch.linalg.qr(torch.stack([t**k for k in range(degree + 1)], 1))
    q = q.to(z.dtype)
    return (z @ q) @ q.T


def trend_fit_statistics(z: torch.Tensor, trend: torch.Tensor) -> torch.Tensor:
    """(N, 1, L) -> (N, 2), both about 0 when the signal is the trend plus white Gaussian noise:

    - misfit: log of the trend's residual power over the noise power seen by second
      differences (which cancel lines and nearly cancel smooth curves); large when the
      trend misses structure;
    - glitchiness: log of the second differences' power over its robust estimate from their
      median absolute value; large when a few points (spikes, dropouts, jumps) carry it.
    """
    second = z[..., 2:] - 2 * z[..., 1:-1] + z[..., :-2]
    power = second.square().mean(-1)
    misfit = torch.log(((z - trend).square().mean(-1) + 1e-12) / (power / 6 + 1e-12))
    robust = (second.abs().median(-1).values / 0.6745).square()
    return torch.cat([misfit, torch.log((power + 1e-12) / (robust + 1e-12))], 1)


class SignalDenoiser(MinMaxDenoiser):
    """Residual 1-D U-Net with global context; fully convolutional, any length >= 16.

    The scaled signal (and, with trend_degree >= 0, its least-squares polynomial trend) is
    padded (edge values repeated) to a multiple of 2**levels, encoded by residual stages and
    stride-2 convolutions, mixed at the coarsest level with its mean over time (global
    context: which family, how much noise), decoded by transposed convolutions with skip
    connections, and cropped back. The network predicts a correction added to its input, so
    the identity is its easy starting point.

    With a trend, a switch blends the two experts: out = g * trend + (1 - g) * (input +
    correction). Low-order polynomials are a linear space where the least-squares fit is the
    best estimator under white noise; the switch lets the network use it exactly instead of
    approximating it with convolutions. g is computed from the global context and two fit
    statistics, initialised as a goodness-of-fit test (trend where the residual looks like
    white Gaussian noise) that training refines; a switch that had to discover this from
    scratch did so for some random initialisations and not others.
    """

    def __init__(self, channels: int, levels: int, kernel_size: int, trend_degree: int, targets: str,
                 sign_symmetric: bool = False):
        super().__init__(targets)
        self.levels, self.trend_degree, self.sign_symmetric = levels, trend_degree, sign_symmetric
        self.inp = nn.Conv1d(1 if trend_degree < 0 else 2, channels, kernel_size, padding="same")
        self.enc = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.down = nn.ModuleList(nn.Conv1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.mid = _Stage(channels, 3)
        self.context = nn.Linear(channels, channels)
        self.switch = nn.Linear(channels + 2, 1) if trend_degree >= 0 else None
        if self.switch is not None:  # start as a goodness-of-fit test: the trend where it fits
            nn.init.zeros_(self.switch.weight)
            nn.init.constant_(self.switch.weight[:, -2:], -4.0)  # g = sigmoid(4 - 4 (misfit + glitchiness))
            nn.init.constant_(self.switch.bias, 4.0)
        self.up = nn.ModuleList(nn.ConvTranspose1d(channels, channels, 2, stride=2) for _ in range(levels))
        self.merge = nn.ModuleList(nn.Conv1d(2 * channels, channels, 1) for _ in range(levels))
        self.dec = nn.ModuleList(_Stage(channels, kernel_size) for _ in range(levels))
        self.out = nn.Conv1d(channels, 1, 1)

    @classmethod
    def from_params(cls, block: dict, meta: dict) -> SignalDenoiser:
        return cls(block["channels"], block["levels"], block["kernel_size"], block["trend_degree"], block["targets"],
                   block["sign_symmetric"])

    def denoise(self, noisy: torch.Tensor) -> torch.Tensor:
        """With sign_symmetric (trained on both signs, see prepare), the odd part of the answer,
        (f(x) - f(-x)) / 2, in one forward pass: -x gets exactly -(the answer to x)."""
        if not self.sign_symmetric:
            return super().denoise(noisy)
        both = super().denoise(torch.cat([noisy, -noisy]))
        return (both[: len(noisy)] - both[len(noisy) :]) / 2

    def core(self, z: torch.Tensor) -> torch.Tensor:
        length = z.shape[-1]
        pad = -length % 2**self.levels
        trend = None if self.switch is None else polynomial_trend(z, self.trend_degree)
        x = z if trend is None else torch.cat([z, trend], 1)
        h = self.inp(F.pad(x, (pad // 2, pad - pad // 2), mode="replicate"))
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        context = h.mean(-1)
        h = h + self.context(context).unsqueeze(-1)
        for i in reversed(range(self.levels)):
            h = self.up[i](h)
            h = self.dec[i](self.merge[i](torch.cat([h, skips[i]], 1)))
        denoised = z + self.out(h)[..., pad // 2 : pad // 2 + length]
        if trend is None:
            return denoised
        g = torch.sigmoid(self.switch(torch.cat([context, trend_fit_statistics(z, trend)], 1))).unsqueeze(-1)
        return g * trend + (1 - g) * denoised


# --- data -----------------------------------------------------------------------------


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


def _tensors(s: SignalSet, targets: str) -> TensorDataset:
    noisy, pure = torch.from_numpy(s.noisy.copy()), torch.from_numpy(s.pure.copy())
    _, low, span = minmax(noisy)
    scaled = (pure - low) / span
    if targets == "scaled":  # the notebook's: pure on its noisy signal's [0, 1] scale, clipped for BCE
        scaled = scaled.clamp(0, 1)
    return TensorDataset(noisy, to_training_units(noisy, scaled, targets))


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
    """Prepared.raw: validation and test sets in raw units, held-out kinds included."""

    val: SignalSet
    test: SignalSet


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
        raw={"val": val, "test": test},
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
    """The seed denoiser: one phase on its loss, its weights kept within max_norm. A model with a
    refine loss: its last `refine_epochs` of `epochs` on that loss with a fresh Adam at `refine_lr`,
    from the first phase's best weights; they log the first loss as train_loss/val_loss, one curve
    across both phases, and their own as refine_train_loss/refine_val_loss."""
    if isinstance(model, SeedDenoiser):
        return Plan(single_phase(loss, config).phases, (MaxNorm(),))
    refine = block.get("refine_epochs", 0)
    phases = [Phase(loss, config.epochs - refine, adam(config.lr))]
    if refine:
        phases.append(Phase(REFINE_LOSSES[spec.refine_loss](), refine, adam(block["refine_lr"]), "refine", loss))
    return Plan(tuple(phases))


@torch.no_grad()
def denoise(model: MinMaxDenoiser, noisy: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw noisy signals (N, L) -> denoised (N, L) float32 in the same units. In batches of 256: the
    activations stay in the CPU's caches (9,800 test signals through the seed model: 2.2 s, 5.7 s in
    batches of 2,048; outputs equal within 2.4e-7)."""
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


# --- the task's scoring and serving (signal_scoring.py) ----------------------------------
# Imported when called: training never runs them (dvc.yaml, the train stage's deps).

# Request params (MLflow's `params`, declared in the registered signature): name -> (type, default).
SERVE_PARAMS = {"noise_sigma": ("double", None)}
# The per-noise table in reports/summary.md: the guarded model's mean gain beside the best classical filter's
SUMMARY_TABLES = {"noise_levels": ("noise", "kinds", "model", "best_classical", "groups_passing", "groups")}


def evaluate(model: MinMaxDenoiser, prepared: Prepared[SignalsRaw], block: dict) -> Evaluation:
    from . import signal_scoring

    return signal_scoring.evaluate(model, prepared, block)


def gate(metrics: dict) -> Verdict:
    from . import signal_scoring

    return signal_scoring.gate(metrics)


def input_example(prepared: Prepared[SignalsRaw]) -> np.ndarray:
    """Three raw test signals, one per row, from the first, middle and last family."""
    noisy = prepared.raw["test"].noisy
    return np.ascontiguousarray(noisy[np.linspace(0, len(noisy) - 1, 3).astype(int)])


def serve(model: MinMaxDenoiser, meta: dict, request, params: dict | None = None) -> dict[str, np.ndarray]:
    from . import signal_scoring

    return signal_scoring.serve(model, meta, request, params)


class SignalsTask(Task):
    """The signals task's contract: its functions above, scoring and serving imported when called."""

    dataset = "signals"
    prepare = staticmethod(prepare)
    evaluate = staticmethod(evaluate)
    gate = staticmethod(gate)
    input_example = staticmethod(input_example)
    serve = staticmethod(serve)
    serve_params = SERVE_PARAMS
    summary_tables = SUMMARY_TABLES
    epoch_metrics = staticmethod(epoch_metrics)
    training_plan = staticmethod(training_plan)
