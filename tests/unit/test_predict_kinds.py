"""What `python -m pipeline.predict` writes for each kind of model, from a stand-in for the loaded model
(the request it gets is checked, its answer is made up); the real registered models: tests/e2e/test_predict.py."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from pipeline.data.stock import StockPrices
from pipeline.errors import DataError, PipelineError
from pipeline.io import atomic_path
from pipeline.predict import Served, lotto, mnist, signals, stock, write
from pipeline.predict.common import NumberRows, Outputs

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class StandIn:
    """Served's interface: meta, params, source; answers with `answer(request, params)`, records the calls."""

    meta: dict
    answer: Callable
    params: frozenset = frozenset()
    name: str = "stand-in"
    uri: str = "models:/stand-in@candidate"
    source: Path = Path("input.file")
    calls: list = field(default_factory=list)

    def __call__(self, request, params=None):
        self.calls.append((request, params))
        return self.answer(request, params)


def text(out: Outputs, name: str) -> str:
    return out.files[name].decode()


@pytest.mark.parametrize("last, expected", [("2022-11-02", "2022-11-03"), ("2022-11-04", "2022-11-07"),
                                            ("2022-11-05", "2022-11-07"), ("2022-11-06", "2022-11-07")])
def test_the_forecast_is_for_the_next_weekday(last, expected):
    assert str(stock.next_weekday(np.datetime64(last))) == expected


def prices(n: int) -> StockPrices:
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + n)
    base = np.arange(1.0, n + 1)[:, None]
    return StockPrices(dates=dates, prices=np.hstack([base, base + 1, base - 0.5, base + 0.5]))


def test_stock_sends_the_last_window_of_features_and_writes_the_close_and_its_date():
    served = StandIn({"window": 3, "features": ["Open", "High", "Low"]},
                     lambda request, params: pd.DataFrame({"next_close": [12.34567]}))
    out = stock.predict(served, prices(10))
    request, params = served.calls[0]
    assert list(request.columns) == ["Open", "High", "Low"] and params is None
    np.testing.assert_array_equal(request.to_numpy(), [[8, 9, 7.5], [9, 10, 8.5], [10, 11, 9.5]])
    assert text(out, "next_close.csv") == "date,next_close\n2020-01-13,12.3457\n"  # the 10th is a Friday
    assert out.files["next_close.png"].startswith(PNG)
    assert "next close for 2020-01-13: 12.35 (the next weekday after the file's last date, 2020-01-10; " \
           "holidays are not skipped)" in out.lines[0]
    with pytest.raises(DataError, match="input.file: 2 data rows; the model reads the last 3 days"):
        stock.predict(served, prices(2))


def test_lotto_sends_the_last_window_of_draws_and_says_the_odds():
    draws = lotto.Draws(np.arange(1, 73).reshape(12, 6), newest_round=1165)
    served = StandIn({"window": 10}, lambda request, params: np.array([[3, 11, 19, 25, 33, 41]]))
    out = lotto.predict(served, draws)
    np.testing.assert_array_equal(served.calls[0][0], draws.numbers[2:])
    assert text(out, "next_draw.csv") == "round,n1,n2,n3,n4,n5,n6\n1166,3,11,19,25,33,41\n"
    assert out.lines[0] == "numbers for round 1166: 3 11 19 25 33 41 (from the last 10 draws)"
    assert "1 in 8,145,060" in out.lines[1] and "random" in out.lines[1]
    unknown = lotto.predict(served, lotto.Draws(draws.numbers, None))
    assert text(unknown, "next_draw.csv").splitlines()[1] == ",3,11,19,25,33,41"
    with pytest.raises(DataError, match="input.file: 9 draws; the model reads the last 10"):
        lotto.predict(served, lotto.Draws(draws.numbers[:9], None))


def test_signals_write_one_denoised_row_per_signal_and_each_ones_noise_and_path():
    noisy = np.arange(12.0).reshape(3, 4)
    served = StandIn({}, lambda request, params: {
        "denoised": request + 0.5, "noise_sigma": np.array([0.1, 0.2, 0.3]),
        "path": np.array(["model", "fallback", "model"]), "fallback_share": np.float32([0, 1, 0.25])})
    out = signals.predict(served, noisy)
    assert text(out, "denoised.csv").splitlines() == ["0.5,1.5,2.5,3.5", "4.5,5.5,6.5,7.5", "8.5,9.5,10.5,11.5"]
    assert text(out, "noise.csv").splitlines() == ["signal,noise_sigma,path,fallback_share", "0,0.1,model,0",
                                                   "1,0.2,fallback,1", "2,0.3,model,0.25"]
    assert out.files["signals.png"].startswith(PNG)
    assert out.lines == ["3 signal(s) of 4 points denoised; answer paths: fallback 1, model 2"]


def test_mnist_writes_the_grid_latents_and_scores_by_image_name():
    images = mnist.Images(np.zeros((2, 28, 28)), ["a.png", "b.png"], ["b.png"])
    served = StandIn({}, lambda request, params: {
        "reconstruction": request + 1, "latent": np.float32([[0.5, -1], [2, 3]]),
        "reconstruction_error": np.array([0.01, 0.2])})
    out = mnist.predict(served, images)
    assert text(out, "latent.csv").splitlines() == ["image,latent_0,latent_1", "a.png,0.5,-1", "b.png,2,3"]
    assert text(out, "scores.csv").splitlines() == ["image,reconstruction_error", "a.png,0.01", "b.png,0.2"]
    assert out.files["reconstructions.png"].startswith(PNG)
    np.testing.assert_array_equal(np.load(io.BytesIO(out.files["reconstructions.npy"])),
                                  np.ones((2, 28, 28)))
    assert "inverted 1 image(s)" in out.lines[1]


def test_mnist_decode_asks_for_a_decode_request_and_names_its_images():
    rows = NumberRows(["latent_0", "latent_1"], np.array([[0.5, 1.0]]), [2], ["a.png"])
    served = StandIn({}, lambda request, params: {"decoded": np.full((len(request), 28, 28), 7.0)},
                     params=frozenset({"decode"}))
    out = mnist.decode(served, rows)
    request, params = served.calls[0]
    assert params == {"decode": True} and request.dtype == np.float32 and request.tolist() == [[0.5, 1.0]]
    assert set(out.files) == {"decoded.png", "decoded.npy"}
    old = StandIn({}, served.answer)  # registered before decode requests: its signature declares no params
    with pytest.raises(PipelineError, match="models:/stand-in@candidate was registered before decode requests"):
        mnist.decode(old, rows)


def test_a_request_the_model_refuses_names_the_input_file():
    from mlflow.exceptions import MlflowException  # pipeline.serving's RequestError is one

    def refuse(request, params=None):
        raise MlflowException("bad request: this model takes signals of exactly 150 points, got 8")

    served = Served("m", "models:/m@champion", Path("in.csv"), {}, frozenset(), type("P", (), {"predict": staticmethod(refuse)}))
    with pytest.raises(DataError) as info:
        served(np.zeros((1, 8)))
    assert str(info.value) == "in.csv: this model takes signals of exactly 150 points, got 8"


def test_write_replaces_each_file_whole_and_leaves_no_temp_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("another run's file")
    (tmp_path / "out" / "a.csv").write_text("old")
    written = write(tmp_path / "out", Outputs(files={"a.csv": b"new\n", "b.png": PNG}))
    assert written == [tmp_path / "out" / "a.csv", tmp_path / "out" / "b.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv", "b.png", "kept.txt"]
    assert (tmp_path / "out" / "a.csv").read_text() == "new\n"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out" / "c.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert not (tmp_path / "out" / "c.csv").exists()
