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


def test_repo_params_are_valid(raw):
    params = validate_params(raw)
    assert params["train"]["stock_rnn"]["window"] == 30
    assert isinstance(params["train"]["stock_rnn"]["lr"], float)


@pytest.mark.parametrize(
    "path, value, key, fragment",
    [
        ("train.stock_rnn.epochs", "many", "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.epochs", 0, "train.stock_rnn.epochs", "allowed >= 1"),
        ("train.stock_rnn.epochs", True, "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.epochs", 2.5, "train.stock_rnn.epochs", "expected an integer"),
        ("train.stock_rnn.lr", 0, "train.stock_rnn.lr", "allowed > 0"),
        ("train.stock_rnn.batch_size", -32, "train.stock_rnn.batch_size", "out of range"),
        ("train.stock_rnn.scaling", "minmax", "train.stock_rnn.scaling", "window_relative, train_max"),
        ("train.stock_rnn.features", ["Open", "Volume"], "train.stock_rnn.features[1]", "choose one of"),
        ("train.stock_rnn.features", [], "train.stock_rnn.features", "at least 1"),
        ("train.stock_rnn.features", ["Open", "Open"], "train.stock_rnn.features[1]", "duplicate"),
        ("train.stock_rnn.dataset", "lotto", "train.stock_rnn.dataset", "choose one of: stock"),
        ("train.stock_rnn.split", {"train": 0.9, "val": 0.1}, "train.stock_rnn.split", "it must be < 1 (the rest is the test set)"),
        ("train.stock_rnn.split", {"train": 0.7}, "train.stock_rnn.split.val", "missing"),
        ("train.stock_rnn.window", ..., "train.stock_rnn.window", "required key is missing"),
        ("train.stock_rnn.dropout", 0.2, "train.stock_rnn.dropout", "unknown key"),
        ("train.stock_lstm", {}, "train.stock_lstm", "unknown model"),
        ("train.signal_denoiser.refine_epochs", 20, "train.signal_denoiser.refine_epochs", "must be below epochs (20)"),
        ("train.signal_denoiser.refine_lr", 0, "train.signal_denoiser.refine_lr", "allowed > 0"),
        ("train.signal_denoiser.targets", "scaled", "train.signal_denoiser.targets", "choose one of: raw"),
        ("train.stock_rnn.refine_epochs", 2, "train.stock_rnn.refine_epochs", "unknown key"),
        ("seed", -1, "seed", "out of range"),
        ("cpu_threads", 0, "cpu_threads", "out of range"),
        ("cpu_threads", ..., "cpu_threads", "required key is missing"),
        ("signals.families", ["quadratic", "triangle"], "signals.families[1]", "choose one of"),
        ("signals.noises", [{"kind": "pink", "sigma": 1}], "signals.noises[0].kind", "gaussian"),
        ("signals.noises", [{"kind": "gaussian", "sigma": -0.1}], "signals.noises[0].sigma", "out of range"),
        ("signals.noises", [{"kind": "dropout", "rate": 1.5}], "signals.noises[0].rate", "<= 1"),
        ("signals.noises", [{"kind": "gaussian", "level": 1}], "signals.noises[0].level", "unknown key"),
        ("signals.length", 8, "signals.length", ">= 16"),
        ("ingest.mnist.verify_md5", "yes", "ingest.mnist.verify_md5", "true or false"),
        ("extra", 1, "extra", "unknown key"),
    ],
)
def test_bad_params_name_the_key(raw, path, value, key, fragment):
    with pytest.raises(ParamsError) as err:
        validate_params(broken(raw, path, value))
    assert err.value.key == key
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"params: {key}: ")


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
