"""benchmarks/train_on_device.py: its params overrides (as `dvc exp run -S` applies them) and its table."""
import sys
from pathlib import Path

import pytest

from pipeline.errors import ParamsError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from train_on_device import markdown, parse_assignments, quality_overrides, with_overrides  # noqa: E402


def test_assignments_are_parsed_as_yaml_values():
    assert parse_assignments(["train.signal_denoiser.epochs=60", "train.stock_rnn.lr=2.0e-3", "a=b=c"]) == [
        ("train.signal_denoiser.epochs", 60), ("train.stock_rnn.lr", 0.002), ("a", "b=c")]


@pytest.mark.parametrize("item", ["epochs60", "=3"])
def test_an_assignment_without_a_key_is_refused_by_name(item):
    with pytest.raises(ParamsError, match=item):
        parse_assignments([item])


def test_overrides_are_applied_and_validated(raw):
    params = with_overrides(raw, [("train.signal_denoiser.channels", 8), ("signals.n_per_family", 30)])
    assert params["train"]["signal_denoiser"]["channels"] == 8 and params["signals"]["n_per_family"] == 30
    assert raw["train"]["signal_denoiser"]["channels"] != 8  # the caller's params are left alone


def test_an_override_of_a_missing_section_names_it(raw):
    with pytest.raises(ParamsError, match=r"train\.no_such_model"):
        with_overrides(raw, [("train.no_such_model.epochs", 3)])


def test_an_override_that_breaks_the_schema_names_the_key(raw):
    with pytest.raises(ParamsError, match=r"train\.signal_denoiser\.epochs"):
        with_overrides(raw, [("train.signal_denoiser.epochs", -1)])


def test_the_quality_profile_is_read_from_the_makefile(tmp_path):
    (tmp_path / "Makefile").write_text("X := 1\nQUALITY_PARAMS := a.b=2 c=x\nquality:\n\techo\n")
    assert quality_overrides(tmp_path / "Makefile") == [("a.b", 2), ("c", "x")]
    (tmp_path / "Makefile").write_text("X := 1\n")
    with pytest.raises(ParamsError, match="QUALITY_PARAMS"):
        quality_overrides(tmp_path / "Makefile")


def test_the_table_has_a_row_per_run_and_shows_errors():
    summary = {"environment": {"gpu": "NVIDIA H200", "torch": "2.11.0", "cpu_cores": 16, "date": "2026-11-28"},
               "runs": {"stock_rnn": {"device": "cuda:0", "epochs_run": 163, "best_epoch": 123, "train_seconds": 12.46,
                                      "samples_per_s": 49324.0, "peak_gpu_memory_mb": 115.6, "passed": False,
                                      "verdict": "test RMSE loses to persistence"},
                        "lotto_rnn": {"error": "ModuleNotFoundError: No module named 'openpyxl'"}}}
    lines = markdown(summary).splitlines()
    assert lines[0].startswith("Trained on NVIDIA H200 (torch 2.11.0, 16 CPU cores)")
    assert lines[4] == "| stock_rnn | cuda:0 | 163 (123) | 12.5 | 49,324 | 115.6 | fails: test RMSE loses to persistence |"
    assert lines[5] == "| lotto_rnn | | | | | | error: ModuleNotFoundError: No module named 'openpyxl' |"
