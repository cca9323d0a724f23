"""MNIST autoencoders: shapes, parameter counts, overfitting, baselines with known answers,
prepare/evaluate on a tiny synthetic dataset, and the serving contract."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from pipeline.errors import ParamsError, PayloadError
from pipeline.registry import MODELS
from pipeline.models.mnist_conv_ae import ConvAE
from pipeline.models.mnist_lstm_ae import LSTMAE
from pipeline.tasks import mnist
from pipeline.tasks.mnist import serving
from pipeline.tasks.mnist.task import MnistTask
from pipeline.training import LOSSES, TrainConfig, count_parameters, fit, on_targets, single_phase

SPLIT = {"train": 0.6, "val": 0.3}
# model -> (params block, expected latent size, expected parameter count)
CASES = {
    # Linear(784,256) 200960 + Linear(256,32) 8224 + Linear(32,256) 8448 + Linear(256,784) 201488
    "mnist_dense_ae": ({"hidden": 256, "latent": 32}, 32, 419_120),
    # Conv2d(1,10,5) 260 + Linear(1960,32) 62752 + Linear(32,1960) 64680 + ConvTranspose2d(10,1,4) 161
    "mnist_conv_ae": ({"filters": 10, "kernel": 5, "latent": 32}, 32, 127_853),
    # Conv2d(1,32,3) 320 + Conv2d(32,32,3) 9248 + ConvT(32,32,4) 16416 + ConvT(32,1,4) 513; code 32x7x7
    "mnist_denoising_ae": ({"channels": 32, "noise_sigma": 0.5}, 32 * 7 * 7, 26_497),
    # bi-LSTM(28,32) 2 x 7936 + Linear(64,32) 2080 + LSTM(32,32) 8448 + Linear(32,28) 924
    "mnist_lstm_ae": ({"hidden": 32, "latent": 32, "bidirectional": True}, 32, 27_324),
}
META = {"denoising": False, "n_train": 10, "n_val": 10}


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """Digit-like images in [0, 1]: two Gaussian blobs at random places."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(28.0)
    images = torch.zeros(n, 28, 28)
    for _ in range(2):
        cy, cx = (torch.rand(2, n, 1, 1, generator=g) * 16 + 6).unbind(0)
        images += torch.exp(-((grid[:, None] - cy) ** 2 + (grid[None, :] - cx) ** 2) / 8)
    return images.clamp(0, 1)


def noisy(clean: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.from_numpy(mnist.add_noise(clean.numpy(), sigma, np.random.default_rng(0)))


def model_of(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS[name].build(CASES[name][0], META)


@pytest.mark.parametrize("name", CASES)
def test_forward_shapes_latent_and_parameter_count(name):
    _, latent, n_params = CASES[name]
    model = model_of(name)
    x = blobs(5)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (5, 28, 28)
    if name != "mnist_lstm_ae":  # the LSTM's rows are linear; run_model clips them
        assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid output
    clipped, codes = mnist.run_model(model, x)
    assert clipped.min() >= 0 and clipped.max() <= 1 and codes.shape == (5, latent)
    assert model.encode(x).shape == (5, latent) and model.latent_size == latent
    assert count_parameters(model) == n_params


def test_conv_ae_seed_configuration_has_the_notebooks_14x14_latent():
    model = ConvAE(filters=10, kernel=5, latent=14 * 14)
    conv = model.encoder[1]
    assert (conv.out_channels, conv.kernel_size) == (10, (5, 5))
    assert model.encoder(blobs(2))[0].shape == (196,)
    assert model.encoder[:4](blobs(2)).shape == (2, 10, 14, 14)  # conv + ReLU + max-pool
    assert model(blobs(2)).shape == (2, 28, 28)


def test_lstm_ae_reads_rows_as_time_steps():
    model = LSTMAE(hidden=8, latent=4, bidirectional=False)
    assert model.encoder.input_size == 28 and not model.encoder.bidirectional
    assert count_parameters(model) == (4 * 8 * (28 + 8) + 64) + (8 * 4 + 4) + (4 * 8 * (4 + 8) + 64) + (8 * 28 + 28)


# small versions of each model, so that 100 epochs on 16 images take seconds
OVERFIT = {
    "mnist_dense_ae": ({"hidden": 64, "latent": 8}, 3e-3),
    "mnist_conv_ae": ({"filters": 4, "kernel": 5, "latent": 8}, 1e-2),
    "mnist_denoising_ae": ({"channels": 8, "noise_sigma": 0.3}, 1e-2),
    "mnist_lstm_ae": ({"hidden": 16, "latent": 8, "bidirectional": True}, 1e-2),
}


@pytest.mark.parametrize("name", OVERFIT)
def test_overfits_a_tiny_batch(name, one_thread):
    block, lr = OVERFIT[name]
    clean = blobs(16, seed=1)
    inputs = noisy(clean, block["noise_sigma"]) if "noise_sigma" in block else clean
    data = TensorDataset(inputs, clean)
    torch.manual_seed(0)
    model = MODELS[name].build(block, META)
    config = TrainConfig(epochs=100, batch_size=4, lr=lr, patience=0, seed=0)
    fit(model, data, data, single_phase(on_targets(LOSSES[MODELS[name].loss]()), config), config,
        device=torch.device("cpu"))
    with torch.no_grad():
        after = torch.mean((model(inputs) - clean) ** 2).item()
    mean_image = torch.mean((clean - clean.mean(dim=0)) ** 2).item()  # the best output that ignores the input
    assert after < 0.4 * mean_image, (after, mean_image)


# --- baselines and metrics ----------------------------------------------------------------


def test_pca_reconstructs_exact_rank_k_data():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 50)) + rng.normal(size=50)  # affine rank 3
    pca = mnist.PCA.fit(data, 3)
    assert np.mean((pca.reconstruct(data) - data) ** 2) < 1e-20
    assert pca.explained_variance == pytest.approx(1.0)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-12)
    assert mnist.PCA.fit(data, 2).explained_variance < 1


def test_pca_beats_every_other_rank_k_linear_reconstruction():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(300, 20)) * np.linspace(3, 0.1, 20) + 5
    k = 4
    pca_mse = np.mean((mnist.PCA.fit(data, k).reconstruct(data) - data) ** 2)
    centred = data - data.mean(axis=0)
    for _ in range(50):  # orthogonal projections onto random rank-k subspaces (least squares given the basis)
        basis, _ = np.linalg.qr(rng.normal(size=(20, k)))
        other = np.mean((centred @ basis @ basis.T - centred) ** 2)
        assert pca_mse <= other
    # the optimum is the discarded variance: the sum of the trailing covariance eigenvalues / D
    eigen = np.sort(np.linalg.eigvalsh(centred.T @ centred / len(data)))[::-1]
    assert pca_mse == pytest.approx(eigen[k:].sum() / 20, rel=1e-9)


def test_psnr_of_known_cases():
    target = np.zeros((3, 28, 28))
    output = target.copy()
    output[0] += 0.1  # MSE 0.01 -> 20 dB
    output[1] += 0.01  # MSE 1e-4 -> 40 dB
    np.testing.assert_allclose(mnist.psnr_db(output, target), [20, 40, 100])  # identical: floored at 100 dB
    np.testing.assert_allclose(mnist.image_mse(output, target), [0.01, 1e-4, 0])


def test_classical_filters_are_tuned_on_the_given_images():
    clean = blobs(20, seed=2).numpy()
    noisy = mnist.add_noise(clean, 0.2, np.random.default_rng(0))
    sigma = mnist.tune_filter(mnist.gaussian_blur, mnist.BLUR_SIGMAS, noisy, clean)
    assert sigma in mnist.BLUR_SIGMAS
    gain = mnist.psnr_db(mnist.gaussian_blur(noisy, sigma), clean) - mnist.psnr_db(noisy, clean)
    assert gain.mean() > 3  # smooth blobs: blurring white noise helps a lot
    assert mnist.median(noisy, 3).shape == noisy.shape


# --- prepare / evaluate on a tiny synthetic dataset -----------------------------------------


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    train = (blobs(100, seed=3).numpy() * 255).astype(np.uint8)
    test = (blobs(30, seed=4).numpy() * 255).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", train_images=train, train_labels=rng.integers(0, 10, 100, dtype=np.uint8),
             test_images=test, test_labels=np.arange(30, dtype=np.uint8) % 10)
    return tmp_path


def block_of(name: str) -> dict:
    return {"dataset": "mnist", **CASES[name][0], "split": SPLIT, "epochs": 1, "batch_size": 32, "lr": 1e-3,
            "patience": 0}


def test_prepare_splits_and_scales(data_dir):
    prepared = mnist.prepare(data_dir, block_of("mnist_dense_ae"), "train.mnist_dense_ae", seed=0)
    sizes = [len(prepared.train), len(prepared.val), len(prepared.test)]
    assert sizes == [60, 30, 30]
    x, y = prepared.train.tensors
    assert x.dtype == torch.float32 and x.shape[1:] == (28, 28) and torch.equal(x, y)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    again = mnist.prepare(data_dir, block_of("mnist_dense_ae"), "k", seed=0)
    assert torch.equal(again.val.tensors[0], prepared.val.tensors[0])
    other = mnist.prepare(data_dir, block_of("mnist_dense_ae"), "k", seed=1)
    assert not torch.equal(other.val.tensors[0], prepared.val.tensors[0])
    assert not prepared.meta["denoising"]


def test_denoiser_noise_is_fixed_by_the_seed_and_targets_stay_clean(data_dir):
    block = block_of("mnist_denoising_ae")
    first = mnist.prepare(data_dir, block, "k", seed=0)
    noisy, clean = first.test.tensors
    assert torch.equal(noisy, mnist.prepare(data_dir, block, "k", seed=0).test.tensors[0])
    assert not torch.equal(noisy, mnist.prepare(data_dir, block, "k", seed=5).test.tensors[0])
    assert torch.equal(clean, mnist.prepare(data_dir, block_of("mnist_dense_ae"), "k", seed=0).test.tensors[1])
    assert 0 <= float(noisy.min()) and float(noisy.max()) <= 1
    assert (noisy != clean).float().mean() > 0.5
    assert first.meta["denoising"]


def test_noise_is_gaussian_with_the_given_sigma_and_clipped_to_pixels():
    grey = np.full((50, 28, 28), 0.5, dtype=np.float32)
    noise = mnist.add_noise(grey, 0.1, np.random.default_rng(0)) - grey
    assert noise.std() == pytest.approx(0.1, rel=0.02) and abs(noise.mean()) < 0.002
    loud = mnist.add_noise(grey, 5.0, np.random.default_rng(0))
    assert loud.min() == 0 and loud.max() == 1 and loud.dtype == np.float32


def test_even_kernel_and_empty_split_are_params_errors(data_dir):
    block = {**block_of("mnist_conv_ae"), "kernel": 4}
    with pytest.raises(ParamsError, match=r"train.m.kernel: 4 is even"):
        mnist.prepare(data_dir, block, "train.m", 0)
    with pytest.raises(ParamsError, match=r"train.m.split: leaves 0 training"):
        mnist.prepare(data_dir, {**block_of("mnist_dense_ae"), "split": {"train": 0.001, "val": 0.5}}, "train.m", 0)


@pytest.mark.parametrize("name", ["mnist_conv_ae", "mnist_denoising_ae"])
def test_evaluate_reports_model_and_baselines(data_dir, name):
    prepared = mnist.prepare(data_dir, block_of(name), "k", seed=0)
    evaluation = mnist.evaluate(model_of(name), prepared, block_of(name))
    metrics = evaluation.metrics
    assert all(isinstance(v, float) for v in metrics.values())
    rows = evaluation.tables["per_digit"]
    assert [r["digit"] for r in rows] == list(range(10))
    if name == "mnist_denoising_ae":
        gains = ("test_psnr_gain_db", "baseline_gaussian_blur_test_psnr_gain_db", "baseline_median_test_psnr_gain_db")
        for key in gains:
            assert key in metrics and key in rows[0]
        assert metrics["test_psnr_gain_db"] == pytest.approx(
            metrics["test_psnr_db"] - metrics["baseline_noisy_input_test_psnr_db"])
    else:
        assert metrics["latent_size"] == 32
        assert metrics["baseline_pca_test_mse"] < 0.05 and metrics["baseline_pca_test_psnr_db"] > 0
        assert set(rows[0]) == {"digit", "test_mse", "baseline_pca_test_mse"}
    assert "reconstructions" in evaluation.figures
    headline = {row.pop("figure"): row for row in evaluation.tables["headline"]}
    if name == "mnist_denoising_ae":
        assert headline["test_psnr_gain_db"] == {"model": metrics["test_psnr_gain_db"], **{
            f: metrics[f"baseline_{f}_test_psnr_gain_db"] for f in ("gaussian_blur", "median")}}
        assert set(headline["test_mse"]) == {"model", "noisy_input", "gaussian_blur", "median"}
    else:
        assert headline == {f"test_{f}": {"model": metrics[f"test_{f}"], "pca": metrics[f"baseline_pca_test_{f}"]}
                            for f in ("mse", "psnr_db")}


# --- serving ---------------------------------------------------------------------------------


def test_serve_answers_in_pixels_in_the_layout_given():
    model = model_of("mnist_dense_ae")
    images = np.rint(blobs(3).numpy() * 255)
    square = serving.serve(model, META, images)
    flat = serving.serve(model, META, images.reshape(3, 784).astype(np.uint8))
    assert square["reconstruction"].shape == (3, 28, 28) and flat["reconstruction"].shape == (3, 784)
    np.testing.assert_allclose(flat["reconstruction"], square["reconstruction"].reshape(3, 784), rtol=1e-6)
    assert 0 <= square["reconstruction"].min() and square["reconstruction"].max() <= 255
    assert square["latent"].shape == (3, 32)
    expected_error = np.mean((square["reconstruction"] / 255 - images / 255) ** 2, axis=(1, 2))
    np.testing.assert_allclose(square["reconstruction_error"], expected_error, rtol=1e-4)
    as_list = serving.serve(model, META, images.tolist())
    np.testing.assert_allclose(as_list["latent"], square["latent"], rtol=1e-6)


def test_serve_takes_a_table_of_flat_rows():
    """A DataFrame of 784 pixel columns (how MLflow hands over a table) is served as the same flat rows."""
    import pandas as pd

    model = model_of("mnist_dense_ae")
    rows = np.rint(blobs(2).numpy() * 255).reshape(2, 784)
    table = serving.serve(model, META, pd.DataFrame(rows))
    assert table["reconstruction"].shape == (2, 784)
    np.testing.assert_allclose(table["latent"], serving.serve(model, META, rows)["latent"], rtol=1e-4, atol=1e-6)


class Identity(torch.nn.Module):
    """An autoencoder that reproduces its input exactly (its code: the flat pixels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def parameters(self, recurse: bool = True):
        yield torch.zeros(1)  # where run_model looks for the device


def test_a_perfect_reconstruction_scores_zero_error():
    """The anomaly score compares the reconstruction with the images the model was given: an exact
    reproduction scores exactly 0, and comes back as the request's own pixels."""
    images = np.rint(blobs(3).numpy() * 255)
    answer = serving.serve(Identity(), META, images)
    np.testing.assert_array_equal(answer["reconstruction_error"], np.zeros(3))
    np.testing.assert_allclose(answer["reconstruction"], images, rtol=1e-6)


def test_input_example_and_answer_make_an_mlflow_signature(data_dir):
    from mlflow.models import infer_signature

    prepared = mnist.prepare(data_dir, block_of("mnist_denoising_ae"), "k", seed=0)
    example = serving.input_example(prepared)
    assert example.shape == (3, 28, 28) and example.max() <= 255 and np.all(example == np.rint(example))
    signature = infer_signature(example, serving.serve(model_of("mnist_denoising_ae"), prepared.meta, example))
    assert signature.inputs.inputs[0].shape == (-1, 28, 28)
    assert signature.outputs.input_names() == ["reconstruction", "latent", "reconstruction_error"]


def with_value(value):
    images = np.zeros((2, 28, 28), dtype=object)
    images[1, 3, 4] = value
    return images


@pytest.mark.parametrize(
    "request_, message",
    [
        (np.zeros((2, 783)), "expected N >= 1 images as (N, 784) or (N, 28, 28) pixels, got shape (2, 783)"),
        (np.zeros((28, 28)), "expected N >= 1 images as (N, 784) or (N, 28, 28) pixels, got shape (28, 28)"),
        (np.zeros((0, 784)), "expected N >= 1 images as (N, 784) or (N, 28, 28) pixels, got shape (0, 784)"),
        (np.zeros((2, 1, 28, 28)), "expected N >= 1 images as (N, 784) or (N, 28, 28) pixels, got shape (2, 1, 28, 28)"),
        ([[0.0] * 784, [0.0] * 783], "images must all have the same shape"),
        (np.full((1, 784), "12"), "pixels must be numbers 0..255"),
        (with_value("12"), "pixels must be numbers 0..255"),
        (with_value(None), "pixels must be numbers 0..255"),
        (np.where(np.eye(28, dtype=bool), np.nan, 0.0)[None], "image 0, pixel (0, 0): expected a number 0..255, got nan"),
        (with_value(256), "image 1, pixel (3, 4): expected a number 0..255, got 256.0"),
        (with_value(-0.5), "image 1, pixel (3, 4): expected a number 0..255, got -0.5"),
        (with_value(float("inf")), "image 1, pixel (3, 4): expected a number 0..255, got inf"),
    ],
)
def test_malformed_requests_are_payload_errors(request_, message):
    with pytest.raises(PayloadError) as info:
        serving.serve(model_of("mnist_dense_ae"), META, request_)
    assert str(info.value) == message


# --- decode requests: the decoder alone -------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_decode_runs_the_decoder_alone(name):
    model = model_of(name)
    x = blobs(4)
    with torch.no_grad():
        np.testing.assert_allclose(model.decode(model.encode(x)).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_a_decode_request_turns_the_served_latents_back_into_the_served_reconstructions(name):
    model = model_of(name)
    images = np.rint(blobs(3).numpy() * 255)
    served = serving.serve(model, META, images)
    assert serving.serve(model, META, images, params={"decode": False}).keys() == served.keys()
    decoded = serving.serve(model, META, served["latent"], params={"decode": True})
    assert set(decoded) == {"decoded"} and decoded["decoded"].shape == (3, 28, 28)
    np.testing.assert_allclose(decoded["decoded"], served["reconstruction"], rtol=1e-4, atol=1e-3)
    assert MnistTask.serve_params == {"decode": ("boolean", False)}


def test_a_decode_request_takes_latents_as_a_table_or_as_json_numbers():
    """MLflow hands a request over as a DataFrame or as an array; JSON numbers may come as Python ints
    and floats in an object array. Each decodes as the same float array does."""
    model = model_of("mnist_dense_ae")
    codes = np.linspace(-1, 1, 64).reshape(2, 32)
    codes[0, :4] = [0, 1, -2, 3]
    expected = serving.serve(model, META, codes, params={"decode": True})["decoded"]
    as_objects = np.array([[int(v) if float(v).is_integer() else float(v) for v in row] for row in codes], dtype=object)
    for request in (pd.DataFrame(codes), as_objects, pd.DataFrame(as_objects)):
        np.testing.assert_allclose(serving.serve(model, META, request, params={"decode": True})["decoded"], expected,
                                   rtol=0, atol=1e-3)


@pytest.mark.parametrize("odd", [True, "1.5", None])
def test_a_latent_that_is_not_a_number_is_refused_even_among_numbers(odd):
    request = np.zeros((1, 32), dtype=object)
    request[0, 7] = odd
    with pytest.raises(PayloadError) as info:
        serving.serve(model_of("mnist_dense_ae"), META, request, params={"decode": True})
    assert str(info.value) == "latent vectors must be rows of numbers of equal length"


@pytest.mark.parametrize(
    "request_, message",
    [
        (np.zeros((2, 31)), "expected N >= 1 latent vectors of 32 numbers (N, 32), got shape (2, 31)"),
        (np.zeros(32), "expected N >= 1 latent vectors of 32 numbers (N, 32), got shape (32,)"),
        (np.zeros((0, 32)), "expected N >= 1 latent vectors of 32 numbers (N, 32), got shape (0, 32)"),
        (np.full((1, 32), "1"), "latent vectors must be rows of numbers of equal length"),
        ([[0.0] * 32, [0.0] * 31], "latent vectors must be rows of numbers of equal length"),
        (np.where(np.arange(32) == 5, np.inf, 0.0)[None], "latent vector 0, value 5: expected a finite number"),
    ],
)
def test_malformed_decode_requests_are_payload_errors(request_, message):
    with pytest.raises(PayloadError) as info:
        serving.serve(model_of("mnist_dense_ae"), META, request_, params={"decode": True})
    assert str(info.value) == message


def test_a_network_without_a_decoder_refuses_a_decode_request():
    with pytest.raises(PayloadError, match="this model has no decoder to run alone; send images, without params.decode"):
        serving.serve(Identity(), META, np.zeros((1, 32)), params={"decode": True})
