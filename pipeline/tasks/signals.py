"""Signals task: denoise 1-D signals, scored per family x noise next to classical filters.

Quality is the SNR gain in dB of a denoiser over its noisy input, for one group of signals
(one family x noise pair of the held-out test file):

    gain = 10 * log10( sum((noisy - pure)^2) / sum((denoised - pure)^2) )

summed over every point of every signal in the group (so it is the ratio of the group's
noise energy to its residual energy, not a mean of per-signal ratios). Returning the noisy
input unchanged gains 0 dB; a filter that distorts more than it removes gains < 0 dB.

Baselines, each tuned per group on the VALIDATION signals and scored on the test signals:
moving average, Savitzky-Golay and Wiener (scipy), windows up to half the signal length
(a local smoother: Savitzky-Golay of order 2 with a window of the whole signal would be the
least-squares projection below). Where the family is a linear space (the quadratic families) the
least-squares projection onto {1, x, x^2} is reported as well: under Gaussian noise it is
the ceiling for any estimator that knows the family, 10*log10(length / 3) dB on average
(17.0 dB at 150 points). For the fixed `quadratic` family the curve itself is known, so a
model may beat it there; under glitches a robust fit may too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import uniform_filter1d
from scipy.signal import savgol_filter, wiener
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from ..data.signals import TEST_FILE, TRAIN_FILE, SignalSet, load_signal_set
from ..errors import DataError, ParamsError, PayloadError
from . import Evaluation, Prepared, Verdict

MIN_LENGTH = 16  # shortest signal the improved model accepts (and params allow)
LINEAR_FAMILIES = {"quadratic": 2, "random_quadratic": 2}  # family -> polynomial degree of its space
WINDOW_GRID = (3, 5, 7, 9, 11, 15, 21, 31, 41, 51, 61, 75, 101, 151, 201)  # odd windows tried, <= length/2
SAVGOL_ORDERS = (1, 2, 3, 4)


# --- per-signal min-max scaling -------------------------------------------------------


def minmax(noisy: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, L) -> each signal scaled to [0, 1] by its own min and max, plus (low, span) to undo it."""
    low = noisy.amin(-1, keepdim=True)
    span = (noisy.amax(-1, keepdim=True) - low).clamp_min(eps)  # a constant signal stays constant
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
        """Keras max_norm: called by the training loop after every optimizer step."""
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

    def __init__(self, channels: int, levels: int, kernel_size: int, trend_degree: int, targets: str):
        super().__init__(targets)
        self.levels, self.trend_degree = levels, trend_degree
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
        return cls(block["channels"], block["levels"], block["kernel_size"], block["trend_degree"], block["targets"])

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


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared:
    full = load_signal_set(Path(data_dir) / TRAIN_FILE)
    test = load_signal_set(Path(data_dir) / TEST_FILE)
    if (full.family_names, full.noise_names) != (test.family_names, test.noise_names) or not np.array_equal(
        full.x, test.x
    ):
        raise DataError(Path(data_dir) / TEST_FILE, "grid, families or noises differ from the training file; "
                                                    "regenerate both with `python -m pipeline.generate_signals`")
    train_rows, val_rows = stratified_split(full, block["split"]["train"], block["split"]["val"], f"{key}.split")
    train, val = full.take(train_rows), full.take(val_rows)
    meta = {
        "length": len(full.x),
        "families": list(full.family_names),
        "noises": list(full.noise_names),
    }
    return Prepared(
        train=_tensors(train, block["targets"]),
        val=_tensors(val, block["targets"]),
        test=_tensors(test, block["targets"]),
        meta=meta,
        raw={"val": val, "test": test},
    )


@torch.no_grad()
def denoise(model: MinMaxDenoiser, noisy: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Raw noisy signals (N, L) -> denoised (N, L) float32 in the same units."""
    model.eval()
    device = next(model.parameters()).device
    parts = [
        model.denoise(torch.tensor(noisy[i : i + batch_size], dtype=torch.float32, device=device))
        for i in range(0, len(noisy), batch_size)
    ]
    return torch.cat(parts).cpu().numpy()


# --- SNR gain and classical baselines -------------------------------------------------


def snr_gain_db(noisy: np.ndarray, pure: np.ndarray, denoised: np.ndarray) -> float:
    """10*log10(sum((noisy - pure)^2) / sum((denoised - pure)^2)) over all points given, in float64."""
    noise = np.sum((np.asarray(noisy, np.float64) - pure) ** 2)
    residual = np.sum((np.asarray(denoised, np.float64) - pure) ** 2)
    return float(10 * np.log10(noise / residual))


def moving_average(noisy: np.ndarray, window: int) -> np.ndarray:
    return uniform_filter1d(noisy, window, axis=-1, mode="nearest")


def savitzky_golay(noisy: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    return savgol_filter(noisy, window, polyorder, axis=-1, mode="interp")


def wiener_filter(noisy: np.ndarray, window: int) -> np.ndarray:
    """scipy's adaptive Wiener filter along each signal; the noise power is estimated from the
    signals given (the mean local variance), so no label is used."""
    with np.errstate(divide="ignore", invalid="ignore"):  # flat stretches: scipy keeps the local mean
        return wiener(noisy, (1, window))


def ls_projection(noisy: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares fit of a polynomial of `degree` to every signal (x's scale does not matter)."""
    t = np.linspace(-1, 1, noisy.shape[-1])
    q, _ = np.linalg.qr(np.vander(t, degree + 1))
    return (noisy @ q) @ q.T


def windows(length: int) -> list[int]:
    return [w for w in WINDOW_GRID if w <= max(3, length // 2)]


CLASSICAL: dict[str, tuple[Callable[..., np.ndarray], Callable[[int], list[tuple]]]] = {
    "moving_average": (moving_average, lambda n: [(w,) for w in windows(n)]),
    "savgol": (savitzky_golay, lambda n: [(w, p) for w in windows(n) for p in SAVGOL_ORDERS if p < w]),
    "wiener": (wiener_filter, lambda n: [(w,) for w in windows(n)]),
}
PARAM_NAMES = {"moving_average": ("window",), "savgol": ("window", "polyorder"), "wiener": ("window",)}


@dataclass(frozen=True)
class Tuned:
    name: str
    params: tuple
    val_gain: float


def tune(name: str, noisy: np.ndarray, pure: np.ndarray) -> Tuned:
    """The grid point of classical filter `name` with the best SNR gain on these signals."""
    apply, grid = CLASSICAL[name]
    noisy = noisy.astype(np.float64)
    scored = [(snr_gain_db(noisy, pure, apply(noisy, *params)), params) for params in grid(noisy.shape[-1])]
    gain, params = max(scored, key=lambda item: item[0])
    return Tuned(name, params, gain)


def group_rows(val: SignalSet, test: SignalSet, denoised: np.ndarray) -> list[dict]:
    """One row per family x noise: test SNR gains of the model, each baseline and the LS bound."""
    rows = []
    for g, (family, noise) in enumerate(test.group_names()):
        v, t = val.group == g, test.group == g
        noisy, pure = test.noisy[t].astype(np.float64), test.pure[t]
        row: dict = {"group": f"{family}/{noise}", "family": family, "noise": noise,
                     "model": snr_gain_db(noisy, pure, denoised[t]), "noisy": 0.0}
        tuned = {name: tune(name, val.noisy[v], val.pure[v]) for name in CLASSICAL}
        for name, best in tuned.items():
            row[name] = snr_gain_db(noisy, pure, CLASSICAL[name][0](noisy, *best.params))
        row["best_classical"] = max(row["noisy"], *(row[name] for name in CLASSICAL))
        row["margin_db"] = row["model"] - row["best_classical"]
        degree = LINEAR_FAMILIES.get(family)
        row["ls_bound"] = snr_gain_db(noisy, pure, ls_projection(noisy, degree)) if degree else None
        for name, best in tuned.items():
            row.update({f"{name}_{p}": value for p, value in zip(PARAM_NAMES[name], best.params)})
        rows.append(row)
    return rows


def evaluate(model: nn.Module, prepared: Prepared, block: dict) -> Evaluation:
    val, test = prepared.raw["val"], prepared.raw["test"]
    denoised = denoise(model, test.noisy)
    rows = group_rows(val, test, denoised)
    metrics: dict[str, float] = {}
    for row in rows:
        slice_ = f"{row['family']}_{row['noise']}"
        metrics[f"test_snr_gain_db_{slice_}"] = row["model"]
        for name in (*CLASSICAL, "best_classical", "ls_bound"):
            if row[name] is not None:
                metrics[f"baseline_{name}_test_snr_gain_db_{slice_}"] = row[name]
    metrics["test_snr_gain_db"] = float(np.mean([r["model"] for r in rows]))
    for name in (*CLASSICAL, "best_classical"):
        metrics[f"baseline_{name}_test_snr_gain_db"] = float(np.mean([r[name] for r in rows]))
    worst = min(rows, key=lambda r: r["margin_db"])
    metrics["test_min_margin_db_vs_best_classical"] = worst["margin_db"]
    metrics["test_groups_beating_best_classical"] = float(sum(r["margin_db"] > 0 for r in rows))
    metrics["test_groups"] = float(len(rows))
    metrics["test_signals"] = float(len(test.noisy))
    verdict = gate(metrics)
    table = [{k: (round(v, 4) if isinstance(v, float) else ("" if v is None else v)) for k, v in r.items()}
             for r in rows]
    return Evaluation(
        metrics=metrics,
        tables={"gains": table},
        figures={"gains": _gains_figure(rows), "examples": _examples_figure(test, denoised, rows)},
        notes={
            "verdict": verdict.reason,
            "worst_group": f"{worst['group']}: model {worst['model']:.2f} dB vs best classical "
                           f"{worst['best_classical']:.2f} dB",
            "baselines": "moving average, Savitzky-Golay, Wiener tuned per family x noise on validation "
                         f"signals, windows {', '.join(map(str, windows(len(test.x))))}",
        },
    )


def gate(metrics: dict) -> Verdict:
    groups = int(metrics["test_groups"])
    beaten = int(metrics["test_groups_beating_best_classical"])
    margin, gain = metrics["test_min_margin_db_vs_best_classical"], metrics["test_snr_gain_db"]
    passed = beaten == groups
    if passed:
        reason = (f"beats the best classical filter on all {groups} family x noise groups "
                  f"(smallest margin {margin:+.2f} dB, mean gain {gain:.2f} dB vs "
                  f"{metrics['baseline_best_classical_test_snr_gain_db']:.2f} dB)")
    else:
        reason = (f"loses to the best classical filter on {groups - beaten} of {groups} family x noise groups "
                  f"(worst margin {margin:+.2f} dB; mean gain {gain:.2f} dB)")
    return Verdict(passed=passed, score=-gain, score_name="neg_test_snr_gain_db", reason=reason)


# --- figures --------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _gains_figure(rows: list[dict]):
    plt = _pyplot()
    frame = pd.DataFrame(rows)
    families = list(dict.fromkeys(frame["family"]))
    methods = ["model", *CLASSICAL, "ls_bound"]
    cols = min(3, len(families))
    fig, axes = plt.subplots(-(-len(families) // cols), cols, figsize=(5 * cols, 3.6 * -(-len(families) // cols)),
                             squeeze=False, sharey=True)
    width = 0.8 / len(methods)
    for ax, family in zip(axes.flat, families):
        part = frame[frame["family"] == family]
        for i, method in enumerate(methods):
            values = pd.to_numeric(part[method], errors="coerce").to_numpy()
            ax.bar(np.arange(len(part)) + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        ax.set_xticks(np.arange(len(part)), part["noise"], rotation=30, ha="right", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(family)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("test SNR gain (dB)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("SNR gain over the noisy input, per family x noise (test signals)")
    fig.tight_layout()
    return fig


def _examples_figure(test: SignalSet, denoised: np.ndarray, rows: list[dict]):
    """The first test signal of every family x noise: noisy, pure, model, and the tuned Savitzky-Golay."""
    plt = _pyplot()
    n_f, n_n = len(test.family_names), len(test.noise_names)
    fig, axes = plt.subplots(n_f, n_n, figsize=(3.2 * n_n, 2.2 * n_f), squeeze=False, sharex=True)
    for g, (family, noise) in enumerate(test.group_names()):
        ax = axes[g // n_n, g % n_n]
        row = np.flatnonzero(test.group == g)[0]
        classical = savitzky_golay(test.noisy[row], rows[g]["savgol_window"], rows[g]["savgol_polyorder"])
        ax.plot(test.x, test.noisy[row], ".", color="0.6", markersize=2, label="noisy")
        ax.plot(test.x, test.pure[row], color="black", linewidth=1, label="pure")
        ax.plot(test.x, classical, color="tab:orange", linewidth=1, label="Savitzky-Golay")
        ax.plot(test.x, denoised[row], color="tab:blue", linewidth=1, label="model")
        ax.set_title(f"{family} / {noise}", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


# --- serving --------------------------------------------------------------------------


def input_example(prepared: Prepared) -> np.ndarray:
    """Three raw test signals, one per row, from the first, middle and last family."""
    noisy = prepared.raw["test"].noisy
    return np.ascontiguousarray(noisy[np.linspace(0, len(noisy) - 1, 3).astype(int)])


def serve(model: MinMaxDenoiser, meta: dict, request) -> np.ndarray:
    """A batch of raw noisy signals (rows of equal length) -> denoised signals, same units and shape."""
    not_numbers = PayloadError("signals must be rows of numbers of equal length")
    if isinstance(request, pd.DataFrame):
        request = request.to_numpy()
    try:
        values = np.asarray(request)
    except ValueError:
        raise not_numbers from None
    if values.dtype == object:  # JSON null arrives as None: a missing value, reported as not finite below
        missing = np.equal(values, None)
        if not all(isinstance(v, (int, float)) for v in values[~missing].flat):
            raise not_numbers
        values = np.where(missing, np.nan, values).astype(np.float64)
    if values.dtype.kind not in "iuf":
        raise not_numbers
    if values.ndim != 2:
        raise PayloadError(f"expected a batch of signals (a 2-D array: signals x points), got {values.ndim} dimension(s)")
    if len(values) == 0:
        raise PayloadError("expected at least one signal")
    if model.fixed_length and values.shape[1] != meta["length"]:
        raise PayloadError(f"this model takes signals of exactly {meta['length']} points, got {values.shape[1]}")
    if values.shape[1] < MIN_LENGTH:
        raise PayloadError(f"signals must have at least {MIN_LENGTH} points, got {values.shape[1]}")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PayloadError(f"signal {row}, point {col}: expected a finite number")
    return denoise(model, values.astype(np.float32))
