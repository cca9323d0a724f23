"""params.yaml schema: every error names the key and what is allowed."""
import copy
import sys
from pathlib import Path

import pytest

from pipeline.config import load_params, validate_params
from pipeline.errors import ParamsError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from train_on_device import quality_overrides, with_overrides  # noqa: E402


def broken(raw, path: str, value):
    """A copy of params with the value at dotted `path` replaced (or deleted if value is ...)."""
    params = copy.deepcopy(raw)
    *parents, leaf = path.split(".")
    node = params
    for part in parents:
        node = node[part]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return params


def identical(a, b, key="") -> list[str]:
    """Where two params trees differ: a value, a type (1 is not 1.0 here) or the order of keys."""
    if type(a) is not type(b):
        return [f"{key}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{key}: keys {list(a)} vs {list(b)}"]
        return [d for k in a for d in identical(a[k], b[k], f"{key}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{key}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in identical(x, y, f"{key}[{i}]")]
    return [] if a == b else [f"{key}: {a!r} vs {b!r}"]


def test_repo_params_are_valid(raw):
    params = validate_params(raw)
    assert params["datasets"]["stock"]["window"] == 30
    assert isinstance(params["train"]["stock_rnn"]["lr"], float)


def test_validated_default_params_are_the_file_as_plain_dicts(raw):
    """params.yaml writes every float as a float, so validation gives back exactly what it read:
    plain dicts and lists, the same values and types, keys in the file's order; and validating
    that again changes nothing."""
    params = validate_params(raw)
    assert identical(raw, params) == []
    assert identical(params, validate_params(params)) == []
    assert {type(block) for block in params["train"].values()} == {dict}
    assert type(params["signals"]["noises"][1]) is dict and params["signals"]["noises"][1]["kind"] == "spikes"


def test_a_float_key_takes_an_int_and_gives_a_float(raw):
    raw = copy.deepcopy(raw)  # the fixture is shared
    raw["train"]["stock_rnn"]["lr"] = 1
    raw["signals"]["noises"] = [{"kind": "gaussian", "sigma": 0}]
    params = validate_params(raw)
    assert identical(params["train"]["stock_rnn"]["lr"], 1.0) == []
    assert identical(params["signals"]["noises"], [{"kind": "gaussian", "sigma": 0.0}]) == []


def test_the_new_noise_kinds_validate_and_take_int_settings(raw):
    raw = copy.deepcopy(raw)  # the fixture is shared
    raw["signals"]["noises"] = [{"kind": "laplace", "sigma": 0.1}, {"kind": "student_t", "sigma": 0.1, "df": 3},
                                {"kind": "ar1", "sigma": 0.1, "phi": -0.9}, {"kind": "ar1", "sigma": 0.1, "phi": 0}]
    expected = [{"kind": "laplace", "sigma": 0.1}, {"kind": "student_t", "sigma": 0.1, "df": 3.0},
                {"kind": "ar1", "sigma": 0.1, "phi": -0.9}, {"kind": "ar1", "sigma": 0.1, "phi": 0.0}]
    assert identical(validate_params(raw)["signals"]["noises"], expected) == []


@pytest.mark.parametrize(
    "path, value, key, fragment",
    [
        ("train.stock_rnn.epochs", "many", "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.epochs", 0, "train.stock_rnn.epochs", "allowed >= 1"),
        ("train.stock_rnn.epochs", True, "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.epochs", 2.5, "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.lr", 0, "train.stock_rnn.lr", "allowed > 0"),
        ("train.stock_rnn.batch_size", -32, "train.stock_rnn.batch_size", "out of range"),
        ("datasets.stock.scaling", "minmax", "datasets.stock.scaling", "window_relative, train_max"),
        ("datasets.stock.features", ["Open", "Volume"], "datasets.stock.features[1]", "choose one of"),
        ("datasets.stock.features", [], "datasets.stock.features", "at least 1"),
        ("datasets.stock.features", ["Open", "Open"], "datasets.stock.features[1]", "duplicate"),
        ("train.stock_rnn.window", 20, "train.stock_rnn.window", "unknown key"),
        ("train.stock_rnn.dataset", "lotto", "train.stock_rnn.dataset", "choose one of: stock"),
        ("datasets.stock.split", {"train": 0.9, "val": 0.1}, "datasets.stock.split", "it must be < 1 (the rest is the test set)"),
        ("datasets.mnist.split", {"train": 0.9, "val": 0.2}, "datasets.mnist.split", "it must be <= 1"),
        ("datasets.stock.split", {"train": 0.7}, "datasets.stock.split.val", "missing"),
        ("datasets.stock.window", ..., "datasets.stock.window", "required key is missing"),
        ("datasets.lotto", ..., "datasets.lotto", "required key is missing"),
        ("datasets.images", {}, "datasets.images", "unknown"),
        ("train.stock_rnn.dropout", 0.2, "train.stock_rnn.dropout", "unknown key"),
        ("train.stock_lstm", {}, "train.stock_lstm", "unknown model"),
        ("train.signal_denoiser.refine_epochs", 20, "train.signal_denoiser.refine_epochs", "must be below epochs (20)"),
        ("train.signal_denoiser.refine_lr", 0, "train.signal_denoiser.refine_lr", "allowed > 0"),
        ("train.signal_denoiser.targets", "scaled", "train.signal_denoiser.targets", "choose one of: raw"),
        # the old name, which said neither range: the two scalings are named for what they are
        ("train.signal_denoiser_seed.targets", "scaled", "train.signal_denoiser_seed.targets",
         "choose one of: noisy_range, pure_own_range"),
        ("train.stock_rnn.refine_epochs", 2, "train.stock_rnn.refine_epochs", "unknown key"),
        ("seed", -1, "seed", "out of range"),
        ("cpu_threads", 0, "cpu_threads", "out of range"),
        ("cpu_threads", ..., "cpu_threads", "required key is missing"),
        ("signals.families", ["quadratic", "triangle"], "signals.families[1]", "choose one of"),
        ("signals.noises", [{"kind": "pink", "sigma": 1}], "signals.noises[0].kind", "gaussian"),
        ("signals.noises", [{"kind": "gaussian", "sigma": -0.1}], "signals.noises[0].sigma", "out of range"),
        ("signals.noises", [{"kind": "dropout", "rate": 1.5}], "signals.noises[0].rate", "<= 1"),
        ("signals.noises", [{"kind": "gaussian", "level": 1}], "signals.noises[0].level", "unknown key"),
        ("signals.noises", [{"kind": "laplace", "sigma": -0.1}], "signals.noises[0].sigma", "allowed >= 0"),
        ("signals.noises", [{"kind": "student_t", "sigma": 0.1, "df": 2}], "signals.noises[0].df", "allowed > 2"),
        ("signals.noises", [{"kind": "student_t", "sigma": 0.1}], "signals.noises[0].df", "required key is missing"),
        ("signals.noises", [{"kind": "ar1", "sigma": 0.1, "phi": 1}], "signals.noises[0].phi",
         "allowed > -1 and < 1"),
        ("signals.noises", [{"kind": "ar1", "sigma": 0.1, "phi": -1.0}], "signals.noises[0].phi", "out of range"),
        ("signals.noises", [{"kind": "laplace", "sigma": 0.1, "df": 5}], "signals.noises[0].df", "unknown key"),
        ("signals.length", 8, "signals.length", ">= 16"),
        ("ingest.mnist.verify_md5", "yes", "ingest.mnist.verify_md5", "true or false"),
        ("extra", 1, "extra", "unknown key"),
        ("serve.max_request_values.signals", 0, "serve.max_request_values.signals", "out of range"),
        ("serve.max_request_values.mnist", ..., "serve.max_request_values.mnist", "required key is missing"),
        ("serve.max_request_values.images", 10, "serve.max_request_values.images", "unknown"),
        ("serve", ..., "serve", "required key is missing"),
    ],
)
def test_bad_params_name_the_key(raw, path, value, key, fragment):
    with pytest.raises(ParamsError) as err:
        validate_params(broken(raw, path, value))
    assert err.value.key == key
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"params: {key}: ")


# the signals section, and rules new with pydantic: (path, value, the whole message)
SIGNALS_CASES = [
    ("signals.n_per_family", 0, "params: signals.n_per_family: 0 is out of range; allowed >= 1 and <= 1e+07"),
    ("signals.n_per_family", 2.5,
     "params: signals.n_per_family: expected an integer >= 1 and <= 1e+07, got 2.5 (float)"),
    ("signals.families", [], "params: signals.families: expected at least 1 item(s), got 0"),
    ("signals.families", "sine", "params: signals.families: expected a list, got 'sine' (str)"),
    ("signals.families", ["quadratic", "sine", "triangle"],
     "params: signals.families[2]: 'triangle' is not allowed; choose one of: quadratic, random_quadratic, sine, "
     "square, sawtooth, chirp, gp, sines, piecewise, steps, damped_sine, bumps, heavisine, random_walk"),
    ("signals.families", ["sine", ["chirp"]], "params: signals.families[1]: expected a non-empty string, got "
                                              "['chirp'] (list)"),
    ("signals.families", ["sine", "chirp", "sine"], "params: signals.families[2]: duplicate item 'sine'"),
    ("signals.noises", [], "params: signals.noises: expected at least 1 item(s), got 0"),
    ("signals.noises", [{"kind": "gaussian", "sigma": i / 1000} for i in range(128)],
     "params: signals.noises: expected at most 127 item(s), got 128"),
    ("signals.noises", ["gaussian"], "params: signals.noises[0]: expected a mapping, got 'gaussian' (str)"),
    ("signals.noises", [{"kind": "pink", "sigma": 0.1}],
     "params: signals.noises[0].kind: unknown kind 'pink'; choose one of: gaussian, spikes, dropout, relative, "
     "laplace, student_t, ar1"),
    ("signals.noises", [{"sigma": 0.1}],
     "params: signals.noises[0].kind: required key is missing; choose one of: gaussian, spikes, dropout, relative, "
     "laplace, student_t, ar1"),
    ("signals.noises", [{"kind": "gaussian"}], "params: signals.noises[0].sigma: required key is missing"),
    ("signals.noises", [{"kind": "gaussian", "sigma": float("nan")}],
     "params: signals.noises[0].sigma: expected a finite number >= 0, got nan"),
    ("signals.noises", [{"kind": "gaussian", "sigma": "0.1"}],
     "params: signals.noises[0].sigma: expected a number >= 0, got '0.1' (str)"),
    ("signals.noises", [{"kind": "gaussian", "sigma": 0.1, "rate": 0.1}],
     "params: signals.noises[0].rate: unknown key; allowed keys here: kind, sigma"),
    ("signals.noises", [{"kind": "gaussian", "sigma": 0.05}, {"kind": "spikes", "rate": 1.5, "level": 1}],
     "params: signals.noises[1].rate: 1.5 is out of range; allowed >= 0 and <= 1"),
    ("signals.noises", [{"kind": "spikes", "rate": 0.1, "level": -1}],
     "params: signals.noises[0].level: -1 is out of range; allowed >= 0"),
    ("signals.noises", [{"kind": "relative", "sigma": 0.1}, {"kind": "relative", "sigma": 0.1000000001}],
     "params: signals.noises[1]: duplicate noise setting 'relative_sigma0.1'"),  # one label, one group
    ("signals.noises", [{"kind": "gaussian", "sigma": 0.05}, {"kind": "laplace", "sigma": 0.1},
                        {"kind": "student_t", "sigma": 0.1, "df": 1.5}],
     "params: signals.noises[2].df: 1.5 is out of range; allowed > 2"),
    ("signals.noises", [{"kind": "student_t", "sigma": 0.1, "df": float("inf")}],
     "params: signals.noises[0].df: expected a finite number > 2, got inf"),
    ("signals.noises", [{"kind": "ar1", "sigma": 0.1, "phi": 0.99}, {"kind": "ar1", "sigma": 0.1, "phi": 1.5}],
     "params: signals.noises[1].phi: 1.5 is out of range; allowed > -1 and < 1"),
    ("signals.noises", [{"kind": "ar1", "sigma": 0.1, "phi": "0.5"}],
     "params: signals.noises[0].phi: expected a number > -1 and < 1, got '0.5' (str)"),
    ("signals.noises", [{"kind": "ar1", "sigma": 0.1}, {"kind": "ar1", "sigma": 0.1, "phi": 0.5}],
     "params: signals.noises[0].phi: required key is missing"),
    ("signals.noises", [{"kind": "ar1", "sigma": 0.1, "phi": 0.5, "df": 3}],
     "params: signals.noises[0].df: unknown key; allowed keys here: kind, sigma, phi"),
    ("signals.noises", [{"kind": "student_t", "sigma": 0.1, "df": 3}, {"kind": "student_t", "sigma": 0.1, "df": 3.0}],
     "params: signals.noises[1]: duplicate noise setting 'student_t_sigma0.1_df3'"),
    ("signals.x_start", float("inf"), "params: signals.x_start: expected a finite number, got inf"),
    ("signals.x_step", 0.0, "params: signals.x_step: 0.0 is out of range; allowed > 0"),
    ("signals.held_out_kinds", ["triangle"],
     "params: signals.held_out_kinds[0]: 'triangle' is not allowed; choose one of: quadratic, random_quadratic, "
     "sine, square, sawtooth, chirp, gp, sines, piecewise, steps, damped_sine, bumps, heavisine, random_walk"),
    ("signals.held_out_kinds", ["bumps", "sine"],
     "params: signals.held_out_kinds[1]: 'sine' is also in signals.families; a held-out kind must not be trained on"),
    ("signals.test_seed", 42,
     "params: signals.test_seed: must differ from seed (42), or the test signals repeat the training signals"),
    ("train", {}, "params: train: expected at least one model; known models: stock_rnn, lotto_rnn, "
                  "signal_denoiser_seed, signal_denoiser, mnist_dense_ae, mnist_conv_ae, mnist_denoising_ae, "
                  "mnist_lstm_ae, mnist_dense_ae_seed, mnist_conv_ae_seed, mnist_denoising_ae_seed, "
                  "mnist_lstm_ae_seed"),
    ("train.stock_rnn", None, "params: train.stock_rnn: expected a mapping, got None (NoneType)"),
    ("train.stock_rnn.lr", True, "params: train.stock_rnn.lr: expected a number > 0 and <= 10, got True (bool)"),
    ("train.lotto_rnn.head_sizes", [128, 0],
     "params: train.lotto_rnn.head_sizes[1]: 0 is out of range; allowed >= 1 and <= 65536"),
]


@pytest.mark.parametrize("path, value, message", SIGNALS_CASES, ids=[f"{c[0]}={c[1]!r:.30}" for c in SIGNALS_CASES])
def test_bad_params_give_the_whole_message(raw, path, value, message):
    with pytest.raises(ParamsError) as err:
        validate_params(broken(raw, path, value))
    assert str(err.value) == message


def test_a_misspelt_key_is_named_as_unknown_before_the_key_it_replaces(raw):
    raw = copy.deepcopy(raw)  # the fixture is shared
    block = raw["train"]["stock_rnn"]
    block["lrr"] = block.pop("lr")
    with pytest.raises(ParamsError) as err:
        validate_params(raw)
    assert err.value.key == "train.stock_rnn.lrr" and err.value.problem.startswith("unknown key; allowed keys here: ")


@pytest.mark.parametrize("raw_params", [None, [], "seed: 1"])
def test_params_that_are_not_a_mapping(raw_params):
    with pytest.raises(ParamsError) as err:
        validate_params(raw_params)
    assert str(err.value) == f"params: <top level>: expected a mapping, got {raw_params!r} ({type(raw_params).__name__})"


def test_each_noise_kind_takes_its_functions_keyword_parameters():
    """A noise's params.yaml keys are its generator function's keyword-only parameters (the file
    labels name them): the noise models and NOISES list the same kinds and keys."""
    import inspect
    from typing import get_args

    from pipeline.config import Noise
    from pipeline.data.signals import NOISES

    models = {model.model_fields["kind"].annotation.__args__[0]: model for model in get_args(get_args(Noise)[0])}
    assert list(models) == list(NOISES)
    for kind, function in NOISES.items():
        keyword = [p.name for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY]
        assert list(models[kind].model_fields) == ["kind", *keyword], kind


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("seed: 1\ntrain: [unclosed\n")
    with pytest.raises(ParamsError, match=r"params.yaml: not valid YAML at line \d+"):
        load_params(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def test_make_quality_profile_gives_valid_params(raw):
    """`make quality`'s -S overrides (QUALITY_PARAMS in the Makefile) name existing keys and, applied
    to params.yaml as `dvc exp run -S` does, still validate, with every value changed."""
    overrides = quality_overrides()
    assert overrides
    defaults, validated = validate_params(raw), with_overrides(raw, overrides)
    for key, _ in overrides:
        default, changed = defaults, validated
        for part in key.split("."):
            default, changed = default[part], changed[part]
        assert changed != default, key
