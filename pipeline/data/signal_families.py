"""The pure-signal families pipeline.data.signals draws from (FAMILIES): the named families, the
random-process prior and the held-out kinds; their formulas are tabled in that module's docstring.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Family = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]


# --- families: (x float64 (length,), rng, n) -> float32 (n, length) -------------------

def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n per-sample parameters as a column, so they broadcast against x."""
    return rng.uniform(low, high, (n, 1))


def quadratic(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """The seed's y = x², the same curve in every row."""
    return np.tile((x * x).astype(np.float32), (n, 1))


def random_quadratic(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    a, b, c = _uniform(rng, -0.5, 0.5, n), _uniform(rng, -1, 1, n), _uniform(rng, -1, 1, n)
    return (a + b * x + c * x * x).astype(np.float32)


def sine(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    amp, freq = _uniform(rng, 0.5, 1, n), _uniform(rng, 0.5, 4, n)
    phase, offset = _uniform(rng, 0, 2 * np.pi, n), _uniform(rng, -0.5, 0.5, n)
    return (amp * np.sin(2 * np.pi * freq * x + phase) + offset).astype(np.float32)


def square(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    amp, period = _uniform(rng, 0.5, 1, n), _uniform(rng, 0.2, 1, n)
    phase, duty = _uniform(rng, 0, 1, n), _uniform(rng, 0.4, 0.6, n)
    return np.where(np.mod(x / period + phase, 1.0) < duty, amp, -amp).astype(np.float32)


def sawtooth(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    amp, period, phase = _uniform(rng, 0.5, 1, n), _uniform(rng, 0.2, 1, n), _uniform(rng, 0, 1, n)
    return (amp * (2 * np.mod(x / period + phase, 1.0) - 1)).astype(np.float32)


def chirp(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    amp, f0, f1 = _uniform(rng, 0.5, 1, n), _uniform(rng, 0.5, 2, n), _uniform(rng, 4, 8, n)
    phase = _uniform(rng, 0, 2 * np.pi, n)
    t = x - x[0]
    cycles = f0 * t + (f1 - f0) * t * t / (2 * t[-1])  # integral of a linear frequency ramp
    return (amp * np.sin(2 * np.pi * cycles + phase)).astype(np.float32)


# --- random processes: the training prior and the held-out kinds ----------------------

def _span01(x: np.ndarray) -> np.ndarray:
    return (x - x[0]) / (x[-1] - x[0]) if len(x) > 1 else np.zeros_like(x)


def _log_uniform(rng: np.random.Generator, low: float, high: float, size) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _count_mask(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """(n, high) bool: row i has its first k_i columns set, k_i uniform in low..high."""
    return np.arange(high) < rng.integers(low, high + 1, (n, 1))


def _scaled(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Rows centred, divided by their largest deviation, times A ∈ [0.5, 1], plus o ∈ [-0.5, 0.5]."""
    y = y - y.mean(-1, keepdims=True)
    y = y / np.maximum(np.abs(y).max(-1, keepdims=True), 1e-12)
    n = len(y)
    return (_uniform(rng, 0.5, 1, n) * y + _uniform(rng, -0.5, 0.5, n)).astype(np.float32)


def _varied(s: np.ndarray, rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Half the rows under a random amplitude envelope, half (independently) plus a random trend."""
    n = len(y)
    e1, e2, t1, t2 = (_uniform(rng, -2, 2, n) for _ in range(4))
    envelope = np.where(rng.random((n, 1)) < 0.5, np.exp(e1 * s + e2 * s * s), 1.0)
    deviation = np.abs(y - y.mean(-1, keepdims=True)).max(-1, keepdims=True)  # the trend's scale
    trend = np.where(rng.random((n, 1)) < 0.5, deviation * (t1 * s + t2 * s * s), 0.0)
    return _scaled(rng, envelope * y + trend)


def _pieces(s: np.ndarray, rng: np.random.Generator, n: int, max_breaks: int, degree: int) -> np.ndarray:
    """Random piecewise polynomials: 1..max_breaks breakpoints, independent coefficients per piece."""
    breaks = np.where(_count_mask(rng, 1, max_breaks, n), rng.random((n, max_breaks)), np.inf)
    piece = (s[None, :, None] >= breaks[:, None, :]).sum(-1)  # (n, L): index of the piece
    coefficients = rng.uniform(-1, 1, (n, max_breaks + 1, degree + 1))
    local = np.take_along_axis(coefficients, piece[..., None], 1)  # (n, L, degree + 1)
    return (local * (s[:, None] - 0.5) ** np.arange(degree + 1)).sum(-1)


def gp(x: np.ndarray, rng: np.random.Generator, n: int, features: int = 64) -> np.ndarray:
    """Random Fourier features: frequencies from the kernel's spectral density (Gaussian for the
    squared-exponential kernel, Student t with 2ν degrees of freedom for Matérn ν)."""
    s = _span01(x)
    scale = _log_uniform(rng, 0.03, 0.5, (n, 1))
    dof = rng.choice([3.0, 5.0, np.inf], (n, 1))  # Matérn 3/2, 5/2, squared-exponential
    finite = np.isfinite(dof)
    chi = np.sqrt(rng.chisquare(np.where(finite, dof, 1.0), (n, features)) / np.where(finite, dof, 1.0))
    omega = rng.standard_normal((n, features)) / np.where(finite, chi, 1.0) / scale  # Student t / ℓ
    phase, weight = rng.uniform(0, 2 * np.pi, (n, features)), rng.standard_normal((n, features))
    y = np.einsum("nf,nfl->nl", weight, np.cos(omega[..., None] * s + phase[..., None]))
    return _varied(s, rng, y)


def sines(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    freq = _log_uniform(rng, 0.5, 20, (n, 5))
    weight = rng.random((n, 5)) * _count_mask(rng, 1, 5, n)
    phase = rng.uniform(0, 2 * np.pi, (n, 5))
    y = np.einsum("nk,nkl->nl", weight, np.sin(2 * np.pi * freq[..., None] * s + phase[..., None]))
    return _varied(s, rng, y)


def piecewise(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    return _varied(s, rng, _pieces(s, rng, n, 5, 3))


def steps(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    return _varied(s, rng, _pieces(s, rng, n, 10, 0))


def damped_sine(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    tau, freq, phase = _uniform(rng, 0.1, 1, n), _uniform(rng, 2, 10, n), _uniform(rng, 0, 2 * np.pi, n)
    return _scaled(rng, np.exp(-s / tau) * np.sin(2 * np.pi * freq * s + phase))


def bumps(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    height = rng.uniform(0.2, 1, (n, 6)) * _count_mask(rng, 1, 6, n)
    centre, width = rng.random((n, 6)), rng.uniform(0.01, 0.06, (n, 6))
    peaks = np.exp(-0.5 * ((s - centre[..., None]) / width[..., None]) ** 2)  # (n, 6, L)
    return _scaled(rng, np.einsum("nk,nkl->nl", height, peaks))


def heavisine(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    s = _span01(x)
    freq, phase = _uniform(rng, 1, 4, n), _uniform(rng, 0, 2 * np.pi, n)
    jumps = rng.uniform(0.2, 1, (n, 2)) * rng.choice([-1.0, 1.0], (n, 2))
    where = rng.random((n, 2))
    y = np.sin(2 * np.pi * freq * s + phase) + np.einsum("nk,nkl->nl", jumps, s >= where[..., None])
    return _scaled(rng, y)


def random_walk(x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return _scaled(rng, np.cumsum(rng.standard_normal((n, len(x))), -1))


FAMILIES: dict[str, Family] = {
    "quadratic": quadratic,
    "random_quadratic": random_quadratic,
    "sine": sine,
    "square": square,
    "sawtooth": sawtooth,
    "chirp": chirp,
    "gp": gp,
    "sines": sines,
    "piecewise": piecewise,
    "steps": steps,
    "damped_sine": damped_sine,
    "bumps": bumps,
    "heavisine": heavisine,
    "random_walk": random_walk,
}
