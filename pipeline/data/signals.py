"""Synthetic 1-D signals (pure and noisy) for the denoising autoencoder.

Every sample lives on one shared grid x = x_start + i·x_step, i = 0..length-1; the
seed configuration (SPEC §3) is the `quadratic` family with Gaussian noise σ=0.05 on
x = -0.50, -0.49, ..., 0.99. Samples are laid out in blocks, one block of
`n_per_family` rows per (family, noise) pair in the order given; shuffle downstream.
The generate_signals stage writes two sets drawn with different seeds: TRAIN_FILE
(split into train/val by each model) and the held-out TEST_FILE.

Families, parameters drawn uniformly per sample (x in "units of x"; on the seed grid
the span is T = 1.49, so every family stays within about ±2.5):

    family            formula                                 parameters
    quadratic         x²                                      none (every row identical)
    random_quadratic  a + b·x + c·x²                          a ∈ [-0.5, 0.5], b, c ∈ [-1, 1]
    sine              A·sin(2π·f·x + φ) + o                   A ∈ [0.5, 1], f ∈ [0.5, 4] cycles/unit,
                                                              φ ∈ [0, 2π), o ∈ [-0.5, 0.5]
    square            +A for a fraction d of each period,     A ∈ [0.5, 1], P ∈ [0.2, 1],
                      -A for the rest                         phase ∈ [0, 1) periods, d ∈ [0.4, 0.6]
    sawtooth          A·(2·frac(x/P + phase) - 1)             A ∈ [0.5, 1], P ∈ [0.2, 1], phase ∈ [0, 1)
    chirp             A·sin(2π·(f0·t + (f1-f0)·t²/(2T)) + φ)  A ∈ [0.5, 1], f0 ∈ [0.5, 2], f1 ∈ [4, 8],
                      t = x - x[0]; frequency f0 → f1         φ ∈ [0, 2π)

The fastest oscillation (8 cycles/unit) still has 12.5 points per cycle on the seed grid.

Beside these named families, random processes make a broad training prior (what a sensor
may send), and a few more kinds are meant to be held out of training (`signals.held_out_kinds`:
generated into both files, never trained on; see SignalSet.held_out). These are drawn on
s = (x - x[0]) / span in [0, 1], so their shapes do not depend on the grid; each row is
centred, divided by its largest deviation, then scaled by A ∈ [0.5, 1] and offset by
o ∈ [-0.5, 0.5] (|y| <= 1.5). Prior kinds also get, each with probability 1/2, a random
amplitude envelope exp(e1·s + e2·s²) and a random trend t1·s + t2·s² (e, t ∈ [-2, 2]).

    prior kind   formula before scaling
    gp           Gaussian-process draw (64 random Fourier features), squared-exponential or
                 Matérn 3/2 or 5/2 kernel, length scale ℓ ∈ [0.03, 0.5] (log-uniform)
    sines        sum of 1..5 sinusoids, frequencies ∈ [0.5, 20] cycles (log-uniform),
                 weights ∈ [0, 1], random phases
    piecewise    1..5 breakpoints, an independent random cubic on every piece
    steps        1..10 breakpoints, a random level on every piece

    held-out kind  formula before scaling
    damped_sine    exp(-s/τ)·sin(2π·f·s + φ), τ ∈ [0.1, 1], f ∈ [2, 10] cycles
    bumps          1..6 Gaussian peaks of height ∈ [0.2, 1], width ∈ [0.01, 0.06], anywhere
    heavisine      sin(2π·f·s + φ) + jumps of ±[0.2, 1] at two random points, f ∈ [1, 4]
    random_walk    cumulative sum of white Gaussian steps (Brownian motion)

The families' code is in pipeline/data/signal_families.py; this module holds the noises, the
set's layout and seeding, and its persistence.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.data.signal_families import FAMILIES
from pipeline.errors import DataError
from pipeline.io import write_npz

TRAIN_FILE = "signals.npz"
TEST_FILE = "signals_test.npz"


def sweep_file(part: str, length: int) -> str:
    """The sweep's file of `part` ("val" or "test") at `length` points (signals.sweep in params.yaml)."""
    return f"sweep_{part}_{length}.npz"

Noise = Callable[..., np.ndarray]


# --- noises: (pure float32 (n, length), rng, **params) -> noisy float32 ---------------
# Parameters are keyword-only; their names are read from the signature (noise_label). A new
# noise is one function + one NOISES entry + its params.yaml model in pipeline/config.py (and, where
# it adds white noise, a line in white_sigma).

def _add(pure: np.ndarray, unit: np.ndarray, scale) -> np.ndarray:
    """float32 pure + unit x scale, `unit` a fresh draw of standard deviation 1 (float32 or float64)."""
    # in place on the fresh draw: one array allocated instead of three (a third of the generator's time)
    noisy = unit.astype(np.float32, copy=False)
    noisy *= scale
    noisy += pure
    return noisy


def _add_white(pure: np.ndarray, rng: np.random.Generator, scale) -> np.ndarray:
    return _add(pure, rng.standard_normal(pure.shape, dtype=np.float32), scale)


def range_scale(pure: np.ndarray, sigma: float) -> np.ndarray:
    """float32 (N, 1): sigma times each signal's range (max - min), the scale of the relative noises: one
    setting is one signal-to-noise ratio whatever a signal's amplitude."""
    return np.float32(sigma) * (pure.max(-1, keepdims=True) - pure.min(-1, keepdims=True))


def gaussian(pure: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """White noise of absolute standard deviation sigma."""
    return _add_white(pure, rng, np.float32(sigma))


def spikes(pure: np.ndarray, rng: np.random.Generator, *, rate: float, level: float) -> np.ndarray:
    """Each point independently gets an impulse of ±level with probability rate."""
    u = rng.random(pure.shape, dtype=np.float32)  # one draw decides hit (u < rate) and sign
    impulse = np.where(u < rate / 2, np.float32(level), np.float32(-level))
    return pure + np.where(u < rate, impulse, np.float32(0))


def dropout(pure: np.ndarray, rng: np.random.Generator, *, rate: float) -> np.ndarray:
    """Each point independently reads 0 with probability rate (a dead sensor sample)."""
    return np.where(rng.random(pure.shape, dtype=np.float32) < rate, np.float32(0), pure)


def relative(pure: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """White Gaussian noise of standard deviation sigma times each signal's range (max - min)."""
    return _add_white(pure, rng, range_scale(pure, sigma))


def laplace(pure: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """White Laplace (double-exponential) noise of standard deviation sigma times each signal's range:
    heavier tails than Gaussian noise of that deviation (kurtosis 6, not 3). A Laplace law of scale b has
    standard deviation b·sqrt(2), so the unit draw has b = 1/sqrt(2)."""
    return _add(pure, rng.laplace(0.0, np.sqrt(0.5), pure.shape), range_scale(pure, sigma))


def student_t(pure: np.ndarray, rng: np.random.Generator, *, sigma: float, df: float) -> np.ndarray:
    """White Student-t noise with `df` degrees of freedom (> 2, where its variance is finite) and standard
    deviation sigma times each signal's range: the t law's variance is df/(df - 2), so each draw is
    scaled by sqrt((df - 2)/df). The smaller df, the heavier the tails (df -> inf: Gaussian)."""
    return _add(pure, rng.standard_t(df, pure.shape) * np.sqrt((df - 2) / df), range_scale(pure, sigma))


def ar1(pure: np.ndarray, rng: np.random.Generator, *, sigma: float, phi: float) -> np.ndarray:
    """Coloured Gaussian noise: per signal a stationary AR(1) process e[t] = phi·e[t-1] + w[t] (|phi| < 1)
    of standard deviation sigma times the signal's range at every point; points k apart correlate by
    phi^k (phi > 0: slow wander, low-frequency; phi < 0: alternating, high-frequency). Stationary from
    the first point on: in units of that deviation e[0] is drawn from the marginal law N(0, 1) and the
    innovations w from N(0, 1 - phi²), which keeps every e[t] at variance 1."""
    # imported here, not at the top: scipy.signal is slow to import, and every stage imports this
    # module (through pipeline.config) to validate its params, most of them for nothing else
    from scipy.signal import lfilter

    drive = rng.standard_normal(pure.shape)  # float64: the recursion accumulates
    drive[..., 1:] *= np.sqrt(1 - phi * phi)
    # y[t] = drive[t] + phi·y[t-1] from rest: y[0] = drive[0] = e[0]
    return _add(pure, lfilter([1.0], [1.0, -phi], drive, axis=-1), range_scale(pure, sigma))


NOISES: dict[str, Noise] = {"gaussian": gaussian, "spikes": spikes, "dropout": dropout, "relative": relative,
                            "laplace": laplace, "student_t": student_t, "ar1": ar1}
RELATIVE_WHITE = ("relative", "laplace", "student_t")  # white noises of sigma x each signal's range


def white_sigma(pure: np.ndarray, kind: str, params: dict[str, float]) -> np.ndarray | None:
    """(N,) the standard deviation of the white noise `kind` adds to each of these pure signals (what a
    sensor's datasheet would give); None for the glitch noises and for AR(1) noise. Its callers hand it
    to the guard as the level of white noise (what SURE's risk and the residual checks assume: noise
    independent from point to point); AR(1) noise is not white, and no one level makes it so: its
    standard deviation would have the guard take the correlated noise for independent, and its
    innovations' (sqrt(1 - phi²) of it) would understate it. Laplace and Student-t noise are white,
    heavy-tailed: their standard deviation is the level."""
    if kind == "gaussian":
        return np.full(len(pure), float(params["sigma"]))
    if kind in RELATIVE_WHITE:
        return float(params["sigma"]) * (pure.max(-1) - pure.min(-1)).astype(np.float64)
    return None


def _noise_params(kind: str) -> list[str]:
    return [p.name for p in inspect.signature(NOISES[kind]).parameters.values() if p.kind is p.KEYWORD_ONLY]


def noise_label(kind: str, params: dict[str, float]) -> str:
    """Readable name of a noise setting, e.g. "spikes_rate0.02_level1"."""
    return "_".join([kind, *(f"{name}{params[name]:g}" for name in _noise_params(kind))])


# --- the signal set -------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SignalSet:
    """Pure/noisy pairs on one shared grid; row i is family_names[family[i]] + noise_names[noise[i]].

    `held_out` names the families (kinds) a model must never train on: they are there to score
    how it does on signals of a kind it has not seen (and to tune the classical filters on them).
    """

    x: np.ndarray  # float32 (length,)
    pure: np.ndarray  # float32 (N, length)
    noisy: np.ndarray  # float32 (N, length)
    family: np.ndarray  # int8 (N,)
    noise: np.ndarray  # int8 (N,)
    family_names: tuple[str, ...]
    noise_names: tuple[str, ...]
    held_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.x.ndim != 1 or self.family.ndim != 1:
            raise ValueError("x and family must be 1-D")
        n, length = len(self.family), len(self.x)
        expected = {
            "x": (np.float32, (length,)),
            "pure": (np.float32, (n, length)),
            "noisy": (np.float32, (n, length)),
            "family": (np.int8, (n,)),
            "noise": (np.int8, (n,)),
        }
        for name, (dtype, shape) in expected.items():
            arr = getattr(self, name)
            if arr.dtype != dtype or arr.shape != shape:
                raise ValueError(f"{name} is {arr.dtype}{arr.shape}, expected {np.dtype(dtype)}{shape}")
            arr.flags.writeable = False
        for labels, names in ((self.family, self.family_names), (self.noise, self.noise_names)):
            if n and not (0 <= labels.min() and labels.max() < len(names)):
                raise ValueError(f"labels outside 0..{len(names) - 1}")
        if not set(self.held_out) <= set(self.family_names):
            raise ValueError(f"held-out kinds {self.held_out} are not all among {self.family_names}")

    @property
    def trainable(self) -> np.ndarray:
        """Row mask: the rows a model may train on (those of a family that is not held out)."""
        return ~np.isin(self.family, [self.family_names.index(name) for name in self.held_out])

    @property
    def group(self) -> np.ndarray:
        """Row -> (family, noise) pair index, family-major: family * len(noise_names) + noise."""
        return self.family.astype(np.int64) * len(self.noise_names) + self.noise

    def group_names(self) -> list[tuple[str, str]]:
        """(family, noise label) of every group index."""
        return [(f, n) for f in self.family_names for n in self.noise_names]

    def take(self, rows: np.ndarray) -> SignalSet:
        """The rows `rows` (indices or a mask) as a new set on the same grid."""
        return SignalSet(self.x, self.pure[rows], self.noisy[rows], self.family[rows], self.noise[rows],
                         self.family_names, self.noise_names, self.held_out)


def _check_layout(families: list[str], labels: list[str]) -> None:
    """generate_signals' own argument guard. Users' params are validated once, at load
    (pipeline/config.py names the key); tests and benchmarks call generate_signals with their own
    arguments, and these two faults would not fail but give a wrong set: a repeated family (a
    held-out kind also in `families`) or noise label makes rows ambiguous (and a held-out kind
    trained on), and labels are int8. Anything else (an unknown name, a missing noise parameter)
    fails by itself."""
    for what, names in (("family", families), ("noise label", labels)):
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated or len(names) > 127:
            raise ValueError(f"{what} names must be distinct and at most 127; got {len(names)}, "
                             f"repeated: {', '.join(repeated) or 'none'}")


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


# Rows per independently seeded chunk of a block. Fixed (not derived from the thread count),
# so the same params give the same draws on any machine.
CHUNK_ROWS = 4096


def _child_rng(seed: int | list[int], family: str, noise: str, chunk: int) -> np.random.Generator:
    # Keyed by the names rather than by position (as SeedSequence.spawn would be), so
    # adding, removing or reordering families/noises leaves every other block's draws as
    # they were; spawn_key is SeedSequence's own mechanism for independent child streams.
    # A block's first chunk keeps the block's own key, so a block of up to CHUNK_ROWS rows
    # draws what it drew before blocks were chunked.
    key = (_name_key(family), _name_key(noise), *((chunk,) if chunk else ()))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def grid(length: int = 150, x_start: float = -0.5, x_step: float = 0.01) -> np.ndarray:
    """The float64 x grid. Written as (i + x_start/x_step)·x_step so the seed grid is
    bit-identical to the notebook's i·0.01 for i in [-50, 100)."""
    return (np.arange(length) + x_start / x_step) * x_step


def generate_signals(
    n_per_family: int,
    families: list[str],
    noises: list[dict],
    length: int = 150,
    x_start: float = -0.5,
    x_step: float = 0.01,
    seed: int | list[int] = 0,  # a SeedSequence entropy: one int, or several (the sweep: [seed, length])
    held_out: list[str] = (),
) -> SignalSet:
    """n_per_family samples for every (family, noise) pair, the `held_out` kinds after the
    families (marked as not for training); deterministic per seed. The arguments are taken as
    given: params.yaml's are validated at load (pipeline.config)."""
    families = [*families, *held_out]
    labels = [noise_label(spec["kind"], spec) for spec in noises]
    _check_layout(families, labels)

    x = grid(length, x_start, x_step)
    n_total = n_per_family * len(families) * len(noises)
    pure = np.empty((n_total, length), np.float32)
    noisy = np.empty((n_total, length), np.float32)
    family_ids = np.repeat(np.arange(len(families), dtype=np.int8), n_per_family * len(noises))
    noise_ids = np.tile(np.repeat(np.arange(len(noises), dtype=np.int8), n_per_family), len(families))
    blocks = [(family, label, NOISES[spec["kind"]], {k: v for k, v in spec.items() if k != "kind"})
              for family in families for label, spec in zip(labels, noises)]

    def fill(block: int, chunk: int) -> None:
        family, label, noise, params = blocks[block]
        start = block * n_per_family + chunk * CHUNK_ROWS
        n = min(CHUNK_ROWS, n_per_family - chunk * CHUNK_ROWS)
        rng = _child_rng(seed, family, label, chunk)
        pure[start:start + n] = FAMILIES[family](x, rng, n)
        noisy[start:start + n] = noise(pure[start:start + n], rng, **params)

    # numpy's random fills and array arithmetic release the GIL, so threads use every core.
    chunks = [(block, chunk) for block in range(len(blocks)) for chunk in range(-(-n_per_family // CHUNK_ROWS))]
    with ThreadPoolExecutor(min(len(chunks), os.cpu_count() or 1)) as pool:
        for _ in pool.map(lambda job: fill(*job), chunks):  # re-raises a chunk's error here
            pass
    return SignalSet(x.astype(np.float32), pure, noisy, family_ids, noise_ids, tuple(families), tuple(labels),
                     tuple(held_out))


# --- persistence and summary ----------------------------------------------------------

_ARRAYS = ("x", "pure", "noisy", "family", "noise")
_NAMES = ("family_names", "noise_names", "held_out")


def save_signal_set(path: str | Path, signal_set: SignalSet) -> None:
    """Write the set to one compressed .npz, atomically."""
    write_npz(
        path,
        **{name: getattr(signal_set, name) for name in _ARRAYS},
        **{name: np.array(getattr(signal_set, name), dtype=str) for name in _NAMES},
    )


def load_signal_set(path: str | Path) -> SignalSet:
    """Read a set written by save_signal_set; DataError if it is missing or malformed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in (*_ARRAYS, *_NAMES) if name not in data.files]
            if missing:
                raise DataError(path, f"missing arrays {', '.join(missing)}; not a signal set")
            arrays = {name: data[name] for name in _ARRAYS}
            names = {name: tuple(str(s) for s in data[name]) for name in _NAMES}
        return SignalSet(**arrays, **names)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(path, f"not a valid signal set: {exc}") from exc


def summarize(signal_set: SignalSet) -> dict:
    """JSON-serialisable counts per family/noise, shapes and in-memory bytes."""
    s = signal_set
    family_counts = np.bincount(s.family, minlength=len(s.family_names))
    noise_counts = np.bincount(s.noise, minlength=len(s.noise_names))
    return {
        "n_samples": len(s.family),
        "length": len(s.x),
        "x_range": [float(s.x[0]), float(s.x[-1])],
        "families": dict(zip(s.family_names, map(int, family_counts))),
        "held_out_kinds": list(s.held_out),
        "noises": dict(zip(s.noise_names, map(int, noise_counts))),
        "shapes": {name: list(getattr(s, name).shape) for name in _ARRAYS},
        "bytes": int(sum(getattr(s, name).nbytes for name in _ARRAYS)),
    }
