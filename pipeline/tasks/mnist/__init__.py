"""MNIST task: autoencoders (dense, convolutional, denoising, LSTM; improved and notebook-faithful
"seed" variants) against classical baselines.

Every model maps images (N, 28, 28) in model units to reconstructions of the same shape and has
`encode(x) -> (N, latent_size)`; the improved ones also `decode(z)`, their decoder alone
(forward(x) = decode(encode(x))), which a served model runs on a decode request. Model units are
pixels / 255 by default (`inputs: unit`); with `inputs: standardised` (the seed variants), each image
standardised on its own, zero mean and unit variance over its 784 pixels, and each output taken back
with that image's own mean and std. Evaluation and serving compare in pixels [0, 1] either way
(outputs clipped to [0, 1]). Reconstructing
models are compared with PCA of the same latent size (the best rank-k linear reconstruction
in MSE); the denoiser with the Gaussian blur and the median filter, each tuned on the
validation images.

PSNR of an image is 10·log10(1 / MSE) dB, MSE over its 784 pixels in [0, 1] (floored at
1e-10, i.e. at most 100 dB); the reported PSNR is the mean over test images, the PSNR gain
the mean per-image difference denoised − noisy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypedDict

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.utils.data import TensorDataset

from ...errors import ParamsError
from .. import Evaluation, Prepared, Verdict, headline_table

IMAGES_FILE = "mnist.npz"
SIDE = 28  # images are SIDE x SIDE pixels
PIXELS = SIDE * SIDE
MAX_PIXEL = 255.0  # user units: 0..255; model units: 0..1
MSE_FLOOR = 1e-10  # a perfect reconstruction scores 100 dB, not infinity
N_DIGITS = 10
BLUR_SIGMAS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # Gaussian-blur grid (pixels), tuned on validation
MEDIAN_SIZES = (2, 3, 4)  # median-filter window grid (pixels), tuned on validation
EVAL_BATCH = 1000
STD_FLOOR = 10 * np.finfo(np.float64).eps  # a std below it is a blank image's: counted as 1 (StandardScaler's rule)


# --- data -------------------------------------------------------------------------------


def load_images(data_dir: Path) -> dict[str, np.ndarray]:
    with np.load(Path(data_dir) / IMAGES_FILE) as npz:
        return {name: npz[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}


def to_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(MAX_PIXEL)


def standardise(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image to zero mean and unit variance over its pixels (the notebook's StandardScaler on the
    transposed data): (float32 images, (N, 2) float64 per-image (mean, std)); a blank image's std
    counts as 1, as StandardScaler's does."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    std[std < STD_FLOOR] = 1.0
    standard = (flat - mean[:, None]) / std[:, None]
    return standard.astype(np.float32).reshape(images.shape), np.stack([mean, std], axis=1)


def unstandardise(images: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`standardise` undone: each image times its own std, plus its own mean (float64)."""
    shape = (-1,) + (1,) * (images.ndim - 1)
    return images.astype(np.float64) * scale[:, 1].reshape(shape) + scale[:, 0].reshape(shape)


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise, clipped back to valid pixels [0, 1] (a noisy image is still an image)."""
    noisy = rng.standard_normal(clean.shape, dtype=np.float32)
    noisy *= np.float32(sigma)
    noisy += clean
    return np.clip(noisy, 0, 1, out=noisy)  # in place: 47M pixels for the training part


class MnistRaw(TypedDict):
    """Prepared.raw: the test images' digits (per-digit tables) and what evaluation compares in."""

    test_labels: np.ndarray
    clean: dict[str, np.ndarray]  # each part's clean images in pixels [0, 1] (the targets, unless standardised)
    scales: dict[str, np.ndarray]  # standardised inputs only: each part's per-image (mean, std), (N, 2)


def prepare(data_dir: Path, block: dict, key: str, seed: int) -> Prepared[MnistRaw]:
    """The 60k training images shuffled (seeded) into train/val parts by `split`; the 10k test
    images. Inputs and targets in [0, 1]; the denoiser's inputs carry fixed, seeded noise.
    `train_images: N` (N > 0) keeps the training part's first N images in file order;
    `inputs: standardised` standardises inputs and targets, each image on its own (meta["inputs"])."""
    if "kernel" in block and block["kernel"] % 2 == 0:
        raise ParamsError(f"{key}.kernel", f"{block['kernel']} is even; expected an odd kernel ('same' padding)")
    standardised = block.get("inputs", "unit") == "standardised"
    sigma = block.get("noise_sigma")
    if standardised and sigma is not None:
        raise ParamsError("inputs", "standardised targets leave [0, 1]; a denoiser's are clean pixels / 255")
    data = load_images(data_dir)
    n = len(data["train_images"])
    n_train, n_val = round(n * block["split"]["train"]), round(n * block["split"]["val"])
    if n_train == 0 or n_val == 0:
        raise ParamsError(f"{key}.split",
                          f"leaves {n_train} training and {n_val} validation images; need at least 1 each")
    order = np.random.default_rng(seed).permutation(n)
    train = order[:n_train]
    if block.get("train_images"):
        if block["train_images"] > n_train:
            raise ParamsError(f"{key}.split", f"leaves {n_train} training images; train_images asks for "
                                              f"{block['train_images']}")
        train = np.sort(train)[: block["train_images"]]
    parts = {
        "train": to_unit(data["train_images"][train]),
        "val": to_unit(data["train_images"][order[n_train : n_train + n_val]]),
        "test": to_unit(data["test_images"]),
    }
    datasets, scales = {}, {}
    for i, (part, clean) in enumerate(parts.items()):
        inputs = clean if sigma is None else add_noise(clean, sigma, np.random.default_rng([seed, i]))
        targets = clean
        if standardised:
            inputs, scales[part] = standardise(clean)
            targets = inputs
        datasets[part] = TensorDataset(torch.from_numpy(inputs), torch.from_numpy(targets))
    meta = {"denoising": sigma is not None, "n_train": len(train), "n_val": n_val}
    if standardised:
        meta["inputs"] = "standardised"
    return Prepared(
        train=datasets["train"], val=datasets["val"], test=datasets["test"], meta=meta,
        raw={"test_labels": data["test_labels"], "clean": parts, "scales": scales},
    )


# --- metrics and baselines --------------------------------------------------------------


def image_mse(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image mean squared error over the pixels, (N, ...) -> (N,)."""
    diff = output.reshape(len(output), -1).astype(np.float64) - target.reshape(len(target), -1)
    return np.mean(diff**2, axis=1)


def psnr_db(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB for pixels in [0, 1]: 10·log10(1 / MSE), MSE floored at 1e-10."""
    return 10 * np.log10(1 / np.maximum(image_mse(output, target), MSE_FLOOR))


@dataclass(frozen=True)
class PCA:
    """Principal components from the SVD of the training data's covariance (numpy, float64)."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D), orthonormal rows, by decreasing variance
    explained_variance: float  # fraction of the training variance the k components keep

    @classmethod
    def fit(cls, data: np.ndarray, k: int) -> PCA:
        flat = data.reshape(len(data), -1).astype(np.float64)
        mean = flat.mean(axis=0)
        centred = flat - mean
        _, variances, vt = np.linalg.svd(centred.T @ centred)  # symmetric PSD: SVD = eigendecomposition
        return cls(mean, vt[:k], float(variances[:k].sum() / variances.sum()))

    def encode(self, data: np.ndarray) -> np.ndarray:
        return (data.reshape(len(data), -1) - self.mean) @ self.components.T

    def reconstruct(self, data: np.ndarray) -> np.ndarray:
        return (self.encode(data) @ self.components + self.mean).reshape(data.shape)


@torch.no_grad()
def run_model(model: nn.Module, images: np.ndarray | torch.Tensor,
              scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(reconstructions clipped to pixels [0, 1], latent codes) of images in model units, in batches
    on the model's device. With `scale` (standardised inputs: each image's (mean, std)), the outputs
    are unstandardised before they are clipped."""
    model.eval()
    device = next(model.parameters()).device
    images = torch.as_tensor(images, dtype=torch.float32)
    outputs, codes = [], []
    for start in range(0, len(images), EVAL_BATCH):
        batch = images[start : start + EVAL_BATCH].to(device)
        output = model(batch)
        outputs.append((output.clamp(0, 1) if scale is None else output).cpu())
        codes.append(model.encode(batch).cpu())
    if scale is None:
        return torch.cat(outputs).numpy(), torch.cat(codes).numpy()
    pixels = np.clip(unstandardise(torch.cat(outputs).numpy(), scale), 0, 1).astype(np.float32)
    return pixels, torch.cat(codes).numpy()


def tune_filter(apply: Callable, settings: tuple, noisy: np.ndarray, clean: np.ndarray):
    """The setting whose filtered images have the highest mean PSNR against the clean ones."""
    scores = [psnr_db(apply(noisy, s), clean).mean() for s in settings]
    return settings[int(np.argmax(scores))]


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma))


def median(images: np.ndarray, size: int) -> np.ndarray:
    return ndimage.median_filter(images, size=(1, size, size))


def per_digit(values: dict[str, np.ndarray], labels: np.ndarray, digits: int) -> list[dict]:
    """One row per digit with each per-image value averaged over that digit's test images."""
    return [
        {"digit": d, **{name: round(float(v[labels == d].mean()), digits) for name, v in values.items()}}
        for d in range(N_DIGITS)
    ]


def evaluate(model: nn.Module, prepared: Prepared[MnistRaw], block: dict) -> Evaluation:
    """Test metrics next to PCA of the same latent size, or (denoiser) next to the filters, in pixels
    [0, 1] whatever the model's units."""
    inputs = prepared.test.tensors[0].numpy()
    clean = prepared.raw["clean"]["test"]
    output, _ = run_model(model, inputs, prepared.raw["scales"].get("test"))
    labels = prepared.raw["test_labels"]
    examples = np.array([np.flatnonzero(labels == d)[0] for d in range(N_DIGITS)])
    if prepared.meta["denoising"]:
        return _evaluate_denoiser(output, inputs, clean, prepared, labels, examples)
    return _evaluate_reconstruction(model.latent_size, output, clean, prepared, labels, examples)


def _evaluate_reconstruction(k: int, output: np.ndarray, clean: np.ndarray, prepared: Prepared[MnistRaw],
                             labels: np.ndarray, examples: np.ndarray) -> Evaluation:
    pca = PCA.fit(prepared.raw["clean"]["train"], k)
    pca_output = np.clip(pca.reconstruct(clean), 0, 1)  # clipping only helps PCA: pixels are in [0, 1]
    model_mse, pca_mse = image_mse(output, clean), image_mse(pca_output, clean)
    metrics = {
        "test_mse": float(model_mse.mean()),
        "test_psnr_db": float(psnr_db(output, clean).mean()),
        "baseline_pca_test_mse": float(pca_mse.mean()),
        "baseline_pca_test_psnr_db": float(psnr_db(pca_output, clean).mean()),
        "baseline_pca_explained_variance": pca.explained_variance,
        "latent_size": float(k),
        "test_images": float(len(clean)),
    }
    metrics["test_mse_vs_pca"] = metrics["test_mse"] / metrics["baseline_pca_test_mse"]
    rows = {"original": clean[examples], "model": output[examples], f"PCA k={k}": pca_output[examples]}
    return Evaluation(
        metrics=metrics,
        tables={"headline": headline_table(metrics, {f"test_{name}": {"model": f"test_{name}", "pca": f"baseline_pca_test_{name}"}
                                                      for name in ("mse", "psnr_db")}),
                "per_digit": per_digit({"test_mse": model_mse, "baseline_pca_test_mse": pca_mse}, labels, 5)},
        figures={"reconstructions": _image_grid(rows, f"Test reconstructions (latent size {k})")},
        notes={"verdict": gate(metrics).reason,
               "baseline": f"PCA, k={k}, fitted on the {prepared.meta['n_train']} training images, clipped to [0, 1]"},
    )


def _evaluate_denoiser(output: np.ndarray, noisy: np.ndarray, clean: np.ndarray, prepared: Prepared[MnistRaw],
                       labels: np.ndarray, examples: np.ndarray) -> Evaluation:
    val_noisy, val_clean = (t.numpy() for t in prepared.val.tensors)
    sigma = tune_filter(gaussian_blur, BLUR_SIGMAS, val_noisy, val_clean)
    size = tune_filter(median, MEDIAN_SIZES, val_noisy, val_clean)
    noisy_psnr = psnr_db(noisy, clean)
    filtered = {"gaussian_blur": gaussian_blur(noisy, sigma), "median": median(noisy, size)}
    gains = {"test_psnr_gain_db": psnr_db(output, clean) - noisy_psnr}
    metrics = {
        "test_mse": float(image_mse(output, clean).mean()),
        "test_psnr_db": float(psnr_db(output, clean).mean()),
        "baseline_noisy_input_test_mse": float(image_mse(noisy, clean).mean()),
        "baseline_noisy_input_test_psnr_db": float(noisy_psnr.mean()),
    }
    for name, images in filtered.items():
        gains[f"baseline_{name}_test_psnr_gain_db"] = psnr_db(images, clean) - noisy_psnr
        metrics[f"baseline_{name}_test_mse"] = float(image_mse(images, clean).mean())
    metrics.update({name: float(gain.mean()) for name, gain in gains.items()})
    metrics.update({"baseline_gaussian_blur_sigma_px": sigma, "baseline_median_size_px": float(size),
                    "test_images": float(len(clean))})
    best = max(filtered, key=lambda name: metrics[f"baseline_{name}_test_psnr_gain_db"])
    label = f"blur σ={sigma:g}" if best == "gaussian_blur" else f"median {size}x{size}"
    rows = {"clean": clean[examples], "noisy": noisy[examples], "model": output[examples],
            label: filtered[best][examples]}
    return Evaluation(
        metrics=metrics,
        tables={"headline": headline_table(metrics, {
                    "test_mse": {"model": "test_mse", **{name: f"baseline_{name}_test_mse" for name in ("noisy_input", *filtered)}},
                    "test_psnr_db": {"model": "test_psnr_db", "noisy_input": "baseline_noisy_input_test_psnr_db"},
                    "test_psnr_gain_db": {"model": "test_psnr_gain_db",
                                          **{name: f"baseline_{name}_test_psnr_gain_db" for name in filtered}}}),
                "per_digit": per_digit(gains, labels, 3)},
        figures={"reconstructions": _image_grid(rows, "Test denoising (noise fixed by the seed)")},
        notes={"verdict": gate(metrics).reason,
               "baseline": f"Gaussian blur sigma {sigma:g} px and median {size}x{size}, "
                           "tuned on the validation images"},
    )


def _image_grid(rows: dict[str, np.ndarray], title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), n, figsize=(n, len(rows) + 0.4), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            axes[r, c].imshow(image, cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gate(metrics: dict) -> Verdict:
    model = metrics["test_mse"]
    if "test_psnr_gain_db" in metrics:
        filters = {"Gaussian blur": metrics["baseline_gaussian_blur_test_psnr_gain_db"],
                   "median filter": metrics["baseline_median_test_psnr_gain_db"]}
        best = max(filters, key=filters.get)
        gain, baseline = metrics["test_psnr_gain_db"], filters[best]
        passed = gain > baseline
        reason = (f"test PSNR gain {gain:.2f} dB {'beats' if passed else 'loses to'} the best classical filter "
                  f"({best}, {baseline:.2f} dB)")
    else:
        baseline = metrics["baseline_pca_test_mse"]
        passed = model < baseline
        reason = (f"test MSE {model:.5f} {'beats' if passed else 'loses to'} PCA with the same latent size "
                  f"{metrics['latent_size']:.0f} ({baseline:.5f}; {model / baseline:.2f}x)")
    return Verdict(passed=passed, score=model, score_name="test_mse", reason=reason)
