"""Lotto RNN: seed architecture, overfitting, windows/normalisation, evaluation and serving (the gate:
tests/unit/test_gates.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.errors import ParamsError, PayloadError
from pipeline.registry import MODELS
from pipeline.models.lotto_rnn import LottoRNN
from pipeline.tasks.lotto import (
    denormalise,
    evaluate,
    input_example,
    make_windows,
    normalise,
    prepare,
    serve,
)
from pipeline.training import LOSSES, TrainConfig, count_parameters, fit, on_targets, single_phase

SEED_BLOCK = {"window": 10, "hidden_size": 64, "num_layers": 3, "dropout": 0.2, "head_sizes": [128, 64],
              "split": {"train": 0.6, "val": 0.2}}
N_DRAWS = 60


def random_draws(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(np.array([rng.choice(45, 6, replace=False) + 1 for _ in range(n)]), axis=1).astype(np.int8)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """prepare() on a synthetic draws.npz laid out like the ingest stage's."""
    data_dir = tmp_path_factory.mktemp("lotto")
    numbers = random_draws(N_DRAWS)
    np.savez_compressed(
        data_dir / "draws.npz",
        rounds=np.arange(1, N_DRAWS + 1, dtype=np.int32),
        dates=np.datetime64("2002-12-07") + 7 * np.arange(N_DRAWS).astype("timedelta64[D]"),
        numbers=numbers,
        bonus=np.zeros(N_DRAWS, dtype=np.int8),  # not read by the task
    )
    return prepare(data_dir, SEED_BLOCK, "train.lotto_rnn", 0), numbers


@pytest.fixture(scope="module")
def seed_model():
    torch.manual_seed(0)
    return MODELS["lotto_rnn"].build(SEED_BLOCK, {"window": 10}).eval()


def test_seed_architecture_shapes_and_parameter_count(seed_model):
    assert seed_model(torch.zeros(7, 10, 6)).shape == (7, 6)
    # RNN layer 1: 64*6 + 64*64 + 2*64 = 4608; layers 2-3: 2 * (64*64 + 64*64 + 2*64) = 16640
    # head: Linear(64,128) 8320 + Linear(128,64) 8256 + Linear(64,6) 390 = 16966; total 38214
    assert count_parameters(seed_model) == 38214
    rnn = seed_model.rnn
    assert (rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.dropout, rnn.batch_first) == (6, 64, 3, 0.2, True)
    kinds = [type(m).__name__ for m in seed_model.head]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_uses_the_last_time_step_only(seed_model):
    x = torch.rand(2, 10, 6)
    changed = x.clone()
    changed[:, -1] += 0.5  # the last step feeds the head; earlier steps only through the recurrence
    assert not torch.allclose(seed_model(x), seed_model(changed))
    assert LottoRNN(8, 1, 0.0, [])(x).shape == (2, 6)  # no hidden head layers, one RNN layer


def test_overfits_a_tiny_batch():
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.rand(16, 10, 6, generator=g), torch.rand(16, 6, generator=g))
    torch.manual_seed(0)
    model = LottoRNN(32, 2, 0.0, [32])
    loss_fn = LOSSES["mse"]()
    before = loss_fn(model(data.tensors[0]), data.tensors[1]).item()
    config = TrainConfig(epochs=100, batch_size=16, lr=1e-2, patience=0, seed=0)
    result = fit(model, data, data, single_phase(on_targets(loss_fn), config), config,
                 device=torch.device("cpu"))
    assert result.best_val_loss < before * 0.02


def test_windows_and_normalisation_round_trip():
    numbers = random_draws(15, seed=1)
    inputs, targets = make_windows(numbers, 10)
    assert inputs.shape == (5, 10, 6) and targets.shape == (5, 6)
    for i in range(5):
        np.testing.assert_array_equal(inputs[i], numbers[i : i + 10])
        np.testing.assert_array_equal(targets[i], numbers[i + 10])
    assert normalise(np.array([1, 23, 45])).tolist() == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(denormalise(normalise(numbers)), numbers, atol=1e-5)
    with pytest.raises(ParamsError, match="window 15 needs at least 16 draws; the data has 15"):
        make_windows(numbers, 15, key="datasets.lotto.window")


def test_prepare_splits_chronologically(prepared):
    prep, numbers = prepared
    n = N_DRAWS - 10  # windows
    assert (len(prep.train), len(prep.val)) == (int(n * 0.6), int(n * 0.2))
    assert len(prep.test) == n - len(prep.train) - len(prep.val)
    # test = the newest draws; its targets in model units are the normalised draws
    np.testing.assert_array_equal(prep.raw["test_draws"], numbers[-len(prep.test):])
    np.testing.assert_array_equal(prep.test.tensors[1].numpy(), normalise(numbers[-len(prep.test):]))
    np.testing.assert_array_equal(prep.raw["test_rounds"], np.arange(N_DRAWS - len(prep.test) + 1, N_DRAWS + 1))
    # the frequency baseline sees exactly the draws of the training windows, inputs and targets
    np.testing.assert_array_equal(prep.raw["train_draws"], numbers[: len(prep.train) + 10])
    assert prep.meta == {"window": 10}


def test_evaluate_reports_model_chance_and_frequency(prepared, seed_model):
    prep, _ = prepared
    result = evaluate(seed_model, prep, SEED_BLOCK)
    m = result.metrics
    assert m["baseline_chance_test_mean_matches"] == pytest.approx(0.8)
    assert m["test_draws"] == len(prep.test)
    for prefix in ("test", "baseline_chance_test", "baseline_frequency_test"):
        assert sum(m[f"{prefix}_match_frac_{k}"] for k in range(7)) == pytest.approx(1)
    assert m["test_mean_matches"] == pytest.approx(sum(k * m[f"test_match_frac_{k}"] for k in range(7)))
    assert all(isinstance(v, float) for v in m.values())
    rows = result.tables["match_distribution"]
    assert [r["matches"] for r in rows] == list(range(7))
    assert set(rows[0]) == {"matches", "model", "chance", "frequency"}
    assert "random" in result.notes["randomness"] and "except by luck" in result.notes["randomness"]
    assert "match_distribution" in result.figures
    # the headline table: each figure beside chance's and the frequency ticket's, the metrics' own values
    headline = {row.pop("figure"): row for row in result.tables["headline"]}
    assert list(headline) == ["test_mean_matches", *(f"test_match_frac_{k}" for k in range(7))]
    assert headline["test_match_frac_3"] == {"model": m["test_match_frac_3"], "chance": m["baseline_chance_test_match_frac_3"],
                                             "frequency": m["baseline_frequency_test_match_frac_3"]}


# --- serving ----------------------------------------------------------------------------


def test_input_example_is_the_last_draws(prepared):
    prep, numbers = prepared
    example = input_example(prep)
    assert example.shape == (10, 6)
    np.testing.assert_array_equal(example, numbers[-10:])


def test_serve_answers_six_distinct_numbers(prepared, seed_model):
    prep, numbers = prepared
    request = numbers[-10:].astype(np.int64)
    answer = serve(seed_model, prep.meta, request)
    assert answer.shape == (1, 6) and answer.dtype == np.int64
    assert ((answer >= 1) & (answer <= 45)).all() and (np.diff(answer[0]) > 0).all()
    np.testing.assert_array_equal(serve(seed_model, prep.meta, request[None].astype(float)), answer)
    np.testing.assert_array_equal(serve(seed_model, prep.meta, request[:, ::-1]), answer)  # rows in any order


def bad(request: np.ndarray, row: int, col: int, value) -> np.ndarray:
    out = np.asarray(request, dtype=object if isinstance(value, str) else float).copy()
    out[row, col] = value
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r[:9], "expected 10 draws of 6 numbers (a 10x6 array, oldest first), got shape 9x6"),
        (lambda r: r[:, :5], "expected 10 draws of 6 numbers (a 10x6 array, oldest first), got shape 10x5"),
        (lambda r: np.stack([r, r]), "expected 10 draws of 6 numbers (a 10x6 array, oldest first), got shape 2x10x6"),
        (lambda r: bad(r, 2, 3, np.nan), "row 2, position 3: expected a number, got nan"),
        (lambda r: bad(r, 2, 3, np.inf), "row 2, position 3: expected a number, got inf"),
        (lambda r: bad(r, 4, 0, 3.5), "row 4, position 0: expected a whole number, got 3.5"),
        (lambda r: bad(r, 1, 5, 46), "row 1, position 5: number 46 is outside 1..45"),
        (lambda r: bad(r, 0, 0, 0), "row 0, position 0: number 0 is outside 1..45"),
        (lambda r: bad(r, 3, 1, "seven"), "expected numbers 1..45, got non-numeric values"),
        (lambda r: r.astype(str), "expected numbers 1..45, got non-numeric values"),
        # {r[6][0]}: the number of the request's row 6 that the change repeats
        (lambda r: bad(r, 6, 1, r[6, 0]), "row 6: number {r[6][0]} appears twice; a draw has 6 distinct numbers"),
        # the row's largest number repeated in place of its smallest: the repeat is found wherever it sorts
        (lambda r: bad(r, 6, int(r[6].argmin()), r[6].max()),
         "row 6: number {largest} appears twice; a draw has 6 distinct numbers"),
    ],
)
def test_serve_rejects_malformed_requests(prepared, seed_model, change, message):
    prep, numbers = prepared
    request = numbers[-10:].astype(np.int64)
    with pytest.raises(PayloadError) as info:
        serve(seed_model, prep.meta, change(request))
    assert str(info.value) == message.format(r=request, largest=request[6].max())


def test_serve_rejects_ragged_rows(prepared, seed_model):
    prep, numbers = prepared
    rows = numbers[-10:].tolist()
    rows[3] = rows[3][:4]
    with pytest.raises(PayloadError) as info:
        serve(seed_model, prep.meta, rows)
    assert str(info.value) == "expected 10 draws of 6 numbers each; rows differ in length"
