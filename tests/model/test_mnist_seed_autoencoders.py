"""The notebook-faithful ("seed") MNIST autoencoders: the notebook's layer shapes and parameter counts,
Keras' padding and LSTM, per-image standardisation through prepare, evaluate and serve, the
3,000-image override, overfitting and determinism."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from pipeline.errors import ParamsError, PayloadError
from pipeline.models.layers import conv_out, conv_transpose_out
from pipeline.models.mnist_lstm_ae_seed import KerasLSTM
from pipeline.registry import MODELS
from pipeline.tasks import mnist
from pipeline.tasks.mnist import serving
from pipeline.training import LOSSES, TrainConfig, count_parameters, fit, on_targets, single_phase

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from train_on_device import parse_assignments, with_overrides  # noqa: E402

from test_mnist_autoencoders import SPLIT, blobs, noisy  # noqa: E402

# model -> (its own params, latent size, parameter count as the notebook's Keras layers give it)
CASES = {
    # Dense(256) 784*256+256 = 200960, Dense(32) 256*32+32 = 8224, Dense(256) 32*256+256 = 8448,
    # Dense(784) 256*784+784 = 201488
    "mnist_dense_ae_seed": ({"inputs": "standardised", "latent": 32}, 32, 419_120),
    # Conv2D(10, 5x5) 5*5*1*10+10 = 260, Dense(196) on 24*24*10: 5760*196+196 = 1129156,
    # Conv2DTranspose(10, 4x4) 4*4*1*10+10 = 170, Conv2D(1, 4x4) 4*4*10*1+1 = 161
    "mnist_conv_ae_seed": ({"inputs": "standardised"}, 14 * 14, 1_129_747),
    # Conv2D(10, 3x3) 3*3*1*10+10 = 100, Conv2DTranspose(10, 3x3) 3*3*10*10+10 = 910,
    # Conv2D(1, 3x3) 3*3*10*1+1 = 91; the code: the pooled 10x28x28 maps
    "mnist_denoising_ae_seed": ({"inputs": "unit", "noise_sigma": 0.5}, 10 * 28 * 28, 1_101),
    # Keras LSTM(h) on d features: 4*(h*(d+h) + h), twice when Bidirectional; h = 7:
    # 2*4*(7*(28+7)+7) = 2016, 2*4*(7*(7+7)+7) = 840, TimeDistributed(Dense(28)) 7*28+28 = 224
    "mnist_lstm_ae_seed": ({"inputs": "standardised", "hidden": 7}, 28 * 7, 3_080),
}
STANDARDISED = {"inputs": "standardised"}


def model_of(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MODELS[name].build(CASES[name][0], {})


def block_of(name: str, **changes) -> dict:
    return {"dataset": "mnist", "train_images": 0, **CASES[name][0], "split": SPLIT, "epochs": 1, "batch_size": 32,
            "lr": 1e-3, "patience": 0, **changes}


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    train = (blobs(100, seed=3).numpy() * 255).astype(np.uint8)
    train[7] = 0  # a blank image: its std counts as 1
    test = (blobs(30, seed=4).numpy() * 255).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", train_images=train, train_labels=rng.integers(0, 10, 100, dtype=np.uint8),
             test_images=test, test_labels=np.arange(30, dtype=np.uint8) % 10)
    return tmp_path


# --- the notebook's layers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_parameter_count_latent_and_output_shape(name):
    _, latent, n_params = CASES[name]
    model = model_of(name)
    assert count_parameters(model) == n_params
    x = blobs(5)
    with torch.no_grad():
        assert model(x).shape == (5, 28, 28)
        assert model.encode(x).shape == (5, latent) and model.latent_size == latent
    assert MODELS[name].registered_name == name.replace("_", "-")


def test_conv_seed_layer_shapes_follow_the_conv_arithmetic():
    model = model_of("mnist_conv_ae_seed")
    x = blobs(2)
    conv, pooled = model.encoder[:3](x), model.encoder[:4](x)
    assert conv.shape == (2, 10, conv_out(28, 5, 1, 2), 28)  # same: 28
    assert pooled.shape == (2, 10, conv_out(28, 5, 1), 24)  # 5x5 max-pool, stride 1, valid: 24
    code = model.encode(x)
    assert code.shape == (2, 196)
    up = model.decoder[:3](code)  # reshaped to 14x14x1, transposed conv
    assert up.shape == (2, 10, conv_transpose_out(14, 4, 2, 1), 28)  # (14-1)*2 - 2*1 + 4 = 28
    assert model.decoder(code).shape == (2, 28, 28)


def test_even_kernel_same_padding_is_keras_one_before_two_after():
    """Keras' "same" at stride 1 with a 4x4 kernel: out[i] = sum_a x[i - 1 + a] w[a]. A kernel that
    keeps only its first tap moves an impulse one pixel down and right; its last tap, two up and left."""
    model = model_of("mnist_conv_ae_seed")
    pad, conv = model.decoder[3], model.decoder[4]
    impulse = torch.zeros(1, 10, 28, 28)
    impulse[0, 0, 5, 5] = 1.0
    for tap, expected in (((0, 0), (6, 6)), ((3, 3), (3, 3))):
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, 0, tap[0], tap[1]] = 1.0
            out = conv(pad(impulse))
        assert out.shape == (1, 1, 28, 28)
        assert tuple(torch.nonzero(out[0, 0]).tolist()[0]) == expected


def test_denoiser_seed_pools_2x2_same_at_stride_1_with_padding_the_max_never_picks():
    model = model_of("mnist_denoising_ae_seed")
    pool = model.encoder[3:]
    maps = -torch.rand(1, 10, 28, 28) - 1  # all below 0: a zero padding would show at the edges
    out = pool(maps)
    assert out.shape == maps.shape
    expected = torch.maximum(maps, torch.nn.functional.pad(maps[..., :, 1:], (0, 1), value=-torch.inf))
    expected = torch.maximum(expected, torch.nn.functional.pad(expected[..., 1:, :], (0, 0, 0, 1), value=-torch.inf))
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert float(out.max()) < 0
    with torch.no_grad():
        y = model(blobs(2))
    assert 0 <= float(y.min()) and float(y.max()) <= 1  # sigmoid output


def test_keras_lstm_is_one_bias_per_gate_and_sums_its_directions():
    """The bias column of the input weights is Keras' bias: the same as PyTorch's LSTM with b_ih = that
    column and b_hh = 0; its initial value is Keras' (zeros, the forget gate's 1)."""
    torch.manual_seed(0)
    layer = KerasLSTM(28, 5)
    weights = dict(layer.lstm.named_parameters())
    assert set(weights) == {f"weight_{w}_l0{d}" for w in ("ih", "hh") for d in ("", "_reverse")}
    bias = weights["weight_ih_l0"][:, 28].detach()
    assert torch.equal(bias, torch.tensor([0.0] * 5 + [1.0] * 5 + [0.0] * 10))
    hh = weights["weight_hh_l0"].detach()  # orthogonal: (4h, h) with orthonormal columns
    torch.testing.assert_close(hh.T @ hh, torch.eye(5), atol=1e-5, rtol=0)
    with torch.no_grad():
        for weight in layer.lstm.parameters():
            weight.add_(torch.randn_like(weight) * 0.1)
        reference = nn.LSTM(28, 5, batch_first=True, bidirectional=True)
        for suffix in ("", "_reverse"):
            w_ih = weights[f"weight_ih_l0{suffix}"]
            getattr(reference, f"weight_ih_l0{suffix}").copy_(w_ih[:, :28])
            getattr(reference, f"bias_ih_l0{suffix}").copy_(w_ih[:, 28])
            getattr(reference, f"weight_hh_l0{suffix}").copy_(weights[f"weight_hh_l0{suffix}"])
            getattr(reference, f"bias_hh_l0{suffix}").zero_()
        x = blobs(3)
        steps, _ = reference(x)
        torch.testing.assert_close(layer(x), steps[..., :5] + steps[..., 5:])


# --- standardised images -------------------------------------------------------------------------


def test_standardise_each_image_on_its_own_and_back():
    blob = blobs(1).numpy()[0]
    images = np.stack([blob, 0.5 * blob, 0.1 * blob + 0.2, 0 * blob, blobs(2).numpy()[1]])
    standard, scale = mnist.standardise(images)
    assert standard.dtype == np.float32 and standard.shape == images.shape and scale.shape == (5, 2)
    flat = standard.reshape(5, -1).astype(np.float64)[[0, 1, 2, 4]]
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(flat.std(axis=1), 1, rtol=1e-5)
    for other in (1, 2):  # the same image scaled or shifted standardises to the same
        np.testing.assert_allclose(standard[other], standard[0], atol=1e-5)
    assert not np.allclose(standard[4], standard[0])
    assert np.all(standard[3] == 0) and tuple(scale[3]) == (0.0, 1.0)  # blank: std counted as 1
    np.testing.assert_allclose(mnist.unstandardise(standard, scale), images, rtol=0, atol=1e-6)
    exact = mnist.unstandardise((images.astype(np.float64) - scale[:, :1, None]) / scale[:, 1:, None], scale)
    np.testing.assert_allclose(exact, images, rtol=0, atol=1e-15)


def test_prepare_standardises_inputs_and_targets_and_keeps_pixels_for_evaluation(data_dir):
    name = "mnist_dense_ae_seed"
    prepared = mnist.prepare(data_dir, block_of(name), "datasets.mnist", seed=0)
    unit = mnist.prepare(data_dir, block_of(name, inputs="unit"), "datasets.mnist", seed=0)
    assert prepared.meta == {**unit.meta, "inputs": "standardised"} and "inputs" not in unit.meta
    for part in ("train", "val", "test"):
        x, y = getattr(prepared, part).tensors
        assert torch.equal(x, y)
        clean = getattr(unit, part).tensors[1].numpy()
        np.testing.assert_array_equal(prepared.raw["clean"][part], clean)
        standard, scale = mnist.standardise(clean)
        np.testing.assert_array_equal(x.numpy(), standard)
        np.testing.assert_array_equal(prepared.raw["scales"][part], scale)
    assert unit.raw["scales"] == {}
    example = serving.input_example(prepared)
    np.testing.assert_array_equal(example, serving.input_example(unit))  # pixels, not standardised units
    assert example.shape == (3, 28, 28) and example.max() <= 255 and np.all(example == np.rint(example))


def test_the_denoiser_seed_trains_on_pixels_as_the_improved_denoiser_does(data_dir):
    seed = mnist.prepare(data_dir, block_of("mnist_denoising_ae_seed"), "k", seed=0)
    improved = mnist.prepare(data_dir, {**block_of("mnist_denoising_ae_seed"), "inputs": "unit", "channels": 32},
                             "k", seed=0)
    for a, b in zip(seed.test.tensors + seed.train.tensors, improved.test.tensors + improved.train.tensors):
        assert torch.equal(a, b)
    assert seed.meta == improved.meta == {"denoising": True, "n_train": 60, "n_val": 30}
    with pytest.raises(ParamsError, match="standardised targets leave"):
        mnist.prepare(data_dir, block_of("mnist_denoising_ae_seed", inputs="standardised"), "k", seed=0)


def test_train_images_keeps_the_training_parts_first_images_in_file_order(data_dir):
    name = "mnist_lstm_ae_seed"
    whole = mnist.prepare(data_dir, block_of(name), "k", seed=0)
    some = mnist.prepare(data_dir, block_of(name, train_images=20), "k", seed=0)
    assert len(some.train) == some.meta["n_train"] == 20 and len(whole.train) == 60
    for part in ("val", "test"):
        assert torch.equal(getattr(some, part).tensors[0], getattr(whole, part).tensors[0])
    pixels = (mnist.load_images(data_dir)["train_images"] / np.float32(255)).astype(np.float32)
    order = np.random.default_rng(0).permutation(100)
    np.testing.assert_array_equal(some.raw["clean"]["train"], pixels[np.sort(order[:60])[:20]])
    with pytest.raises(ParamsError, match=r"datasets.mnist.split: leaves 60 training images; train_images asks for 61"):
        mnist.prepare(data_dir, block_of(name, train_images=61), "datasets.mnist", seed=0)


def test_the_notebooks_3000_images_are_the_override_params_yaml_names(raw):
    """params.yaml's comment names the `dvc exp run -S` override; it sets every seed variant's
    train_images to 3,000 and validates."""
    text = (REPO / "params.yaml").read_text()
    overrides = parse_assignments(re.findall(r"-S (train\.mnist_\w+_seed\.train_images=\d+)", text))
    assert {key for key, _ in overrides} == {f"train.{name}.train_images" for name in CASES}
    params = with_overrides(raw, overrides)
    assert {params["train"][name]["train_images"] for name in CASES} == {3000}
    assert all(raw["train"][name]["train_images"] == 0 for name in CASES)  # the default: all of them


# --- evaluate and serve in pixels ------------------------------------------------------------------


class Fixed(nn.Module):
    """An autoencoder that answers its input exactly (value None) or `value` everywhere; its code:
    the flat input it was given."""

    latent_size = 784

    def __init__(self, value: float | None = None):
        super().__init__()
        self.value = value
        self.anchor = nn.Parameter(torch.zeros(1))  # where run_model looks for the device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone() if self.value is None else torch.full_like(x, self.value)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_evaluation_compares_unstandardised_outputs_with_the_pixels(data_dir):
    seed = mnist.prepare(data_dir, block_of("mnist_dense_ae_seed"), "k", seed=0)
    unit = mnist.prepare(data_dir, block_of("mnist_dense_ae_seed", inputs="unit"), "k", seed=0)
    perfect = mnist.evaluate(Fixed(), seed, block_of("mnist_dense_ae_seed")).metrics
    assert perfect["test_mse"] < 1e-12 and perfect["test_psnr_db"] > 90
    # a model answering 0 everywhere answers each image's own mean: scored in pixels, beside the
    # same PCA the pixel-unit models are compared with
    means = mnist.evaluate(Fixed(0.0), seed, {}).metrics
    clean = seed.raw["clean"]["test"].reshape(30, -1)
    assert means["test_mse"] == pytest.approx(np.mean((clean - clean.mean(axis=1, keepdims=True)) ** 2), rel=1e-5)
    assert means["baseline_pca_test_mse"] == mnist.evaluate(Fixed(0.0), unit, {}).metrics["baseline_pca_test_mse"]


def test_served_standardised_models_answer_the_requests_own_pixels():
    """Standardised and back with each image's own mean and std: an identity model returns the
    request exactly (rounded to pixels), in the request's layout, with a zero error."""
    images = np.rint(blobs(3).numpy() * np.array([255, 100, 30])[:, None, None])
    images[2] = 0  # blank
    meta = {"inputs": "standardised"}
    square = serving.serve(Fixed(), meta, images)
    flat = serving.serve(Fixed(), meta, images.reshape(3, 784).astype(np.uint8))
    assert square["reconstruction"].shape == (3, 28, 28) and flat["reconstruction"].shape == (3, 784)
    np.testing.assert_array_equal(np.rint(square["reconstruction"]), images)
    np.testing.assert_allclose(square["reconstruction"], images, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(flat["reconstruction"], square["reconstruction"].reshape(3, 784))
    np.testing.assert_allclose(square["reconstruction_error"], 0, atol=1e-12)
    codes = square["latent"].reshape(3, 28, 28)
    np.testing.assert_allclose(codes[:2].reshape(2, -1).std(axis=1), 1, rtol=1e-4)  # the model saw standardised images
    means = serving.serve(Fixed(0.0), meta, images)["reconstruction"]  # 0 = each image's own mean
    np.testing.assert_allclose(means, np.broadcast_to(images.mean(axis=(1, 2))[:, None, None], images.shape),
                               rtol=1e-5)
    high = serving.serve(Fixed(50.0), meta, images)["reconstruction"]  # far above: clipped to 255
    assert high[:2].max() == 255 and high[:2].min() == 255


@pytest.mark.parametrize("name", CASES)
def test_serve_answers_pixels_in_the_requests_layout(name):
    model = model_of(name)
    images = np.rint(blobs(3).numpy() * 255)
    meta = {"denoising": name == "mnist_denoising_ae_seed", **({"inputs": "standardised"}
                                                                 if CASES[name][0]["inputs"] == "standardised" else {})}
    square = serving.serve(model, meta, images)
    flat = serving.serve(model, meta, images.reshape(3, 784))
    assert square["reconstruction"].shape == (3, 28, 28) and flat["reconstruction"].shape == (3, 784)
    assert 0 <= square["reconstruction"].min() and square["reconstruction"].max() <= 255
    np.testing.assert_allclose(flat["reconstruction"], square["reconstruction"].reshape(3, 784), rtol=1e-5, atol=1e-4)
    assert square["latent"].shape == (3, CASES[name][1]) and square["reconstruction_error"].shape == (3,)


# --- training --------------------------------------------------------------------------------------

OVERFIT = {  # name -> (params, lr): 100 epochs on 16 images
    "mnist_dense_ae_seed": ({"latent": 8}, 3e-3),
    "mnist_conv_ae_seed": ({}, 3e-3),
    "mnist_denoising_ae_seed": ({"noise_sigma": 0.3}, 1e-2),
    "mnist_lstm_ae_seed": ({"hidden": 16}, 1e-2),
}


def tiny_data(name: str) -> TensorDataset:
    clean = blobs(16, seed=1)
    block = OVERFIT[name][0]
    if "noise_sigma" in block:
        return TensorDataset(noisy(clean, block["noise_sigma"]), clean)
    standard = torch.from_numpy(mnist.standardise(clean.numpy())[0])
    return TensorDataset(standard, standard)


def trained(name: str, epochs: int) -> nn.Module:
    block, lr = OVERFIT[name]
    torch.manual_seed(0)
    model = MODELS[name].build(block, {})
    data = tiny_data(name)
    config = TrainConfig(epochs=epochs, batch_size=4, lr=lr, patience=0, seed=0)
    fit(model, data, data, single_phase(on_targets(LOSSES[MODELS[name].loss]()), config), config,
        device=torch.device("cpu"))
    return model


@pytest.mark.parametrize("name", OVERFIT)
def test_overfits_a_tiny_batch(name, one_thread):
    model = trained(name, 100)
    inputs, targets = tiny_data(name).tensors
    with torch.no_grad():
        after = torch.mean((model(inputs) - targets) ** 2).item()
    mean_image = torch.mean((targets - targets.mean(dim=0)) ** 2).item()  # the best output that ignores the input
    assert after < 0.4 * mean_image, (after, mean_image)


@pytest.mark.parametrize("name", OVERFIT)
def test_the_same_seed_builds_and_trains_the_same_weights(name, one_thread):
    first, second = trained(name, 2), trained(name, 2)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key
    torch.manual_seed(1)
    other = MODELS[name].build(OVERFIT[name][0], {})
    assert any(not torch.equal(a, b) for a, b in zip(other.state_dict().values(), first.state_dict().values()))


def test_a_standardised_model_refuses_a_decode_request():
    """A latent vector alone carries no image's mean and std, so it has no pixel scale to decode to."""
    with pytest.raises(PayloadError) as info:
        serving.serve(Fixed(), {"inputs": "standardised"}, np.zeros((1, 784)), params={"decode": True})
    assert str(info.value) == ("this model's images are standardised each on its own: a latent vector alone has no "
                               "pixel scale to decode to; send images, without params.decode")
