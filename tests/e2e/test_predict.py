"""End to end: `python -m pipeline.predict` against the real registry of the e2e project (tests/conftest.py),
for each kind of model, the MNIST decoder alone, a request the model itself refuses, and
`mlflow models predict` on a file (README.md, "Predict from files")."""
from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

STOCK_FILE = "data/raw/nflx/NFLX_2002-05-23_to_2022-11-02.csv"
LOTTO_FILE = "data/raw/lotto645/lotto645_official_layout_rounds_1-1165.xlsx"
MNIST_TEST_IMAGES = "data/raw/mnist/t10k-images-idx3-ubyte.gz"

# In a fresh process in the project: the registered models (the alias `predict` picks) asked directly
# through MLflow, with the requests the input files below hold.
REGISTRY_ANSWERS = """
import json, sys
import numpy as np
from pipeline import tracking
from pipeline.data.lotto import read_lotto_xlsx
from pipeline.serve import resolve_model_uri

mlflow = tracking.mlflow()
files = json.loads(sys.argv[1])
def model(name):
    return mlflow.pyfunc.load_model(resolve_model_uri(name)[0])
lotto = model("lotto-rnn")
window = lotto.unwrap_python_model().meta["window"]
answers = {"lotto": np.asarray(lotto.predict(read_lotto_xlsx(files["lotto"]).numbers[-window:].astype(float))).tolist()}
signals = model("signal-denoiser").predict(np.load(files["signals"]))
answers["signals"] = {k: np.asarray(v).tolist() for k, v in signals.items()}
mnist = model("mnist-dense-ae").predict(np.load(files["mnist"]).astype(float))
answers["mnist"] = {k: np.asarray(v).tolist() for k, v in mnist.items()}
print(json.dumps(answers))
"""


def run(cmd: list[str], cwd: Path, env: dict, ok: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def predict(project: Path, env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "pipeline.predict", *args], project, env, ok=ok)


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def alias(project: Path, model: str) -> str:
    return json.loads((project / "reports/registry.json").read_text())[model]["aliases"][0]


@pytest.fixture(scope="module")
def inputs(project, tmp_path_factory) -> dict[str, Path]:
    """Input files: 3 noisy 150-point signals (CSV and the same as .npy), 6 MNIST test images (IDX and .npy)."""
    from pipeline.data.signals import generate_signals

    root = tmp_path_factory.mktemp("inputs")
    noisy = generate_signals(3, ["sine"], [{"kind": "gaussian", "sigma": 0.1}], length=150, seed=5).noisy
    np.save(root / "signals.npy", noisy)
    (root / "signals.csv").write_text("".join(",".join(map(repr, row)) + "\n" for row in noisy.tolist()))
    (root / "short.csv").write_text("".join(",".join(map(repr, row[:100])) + "\n" for row in noisy.tolist()))
    payload = gzip.decompress((project / MNIST_TEST_IMAGES).read_bytes())
    images = np.frombuffer(payload, np.uint8, count=6 * 784, offset=16).reshape(6, 28, 28)
    header = (2051).to_bytes(4, "big") + (6).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (root / "digits-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
    np.save(root / "digits.npy", images)
    return {"signals": root / "signals.csv", "signals.npy": root / "signals.npy", "short": root / "short.csv",
            "mnist": root / "digits-idx3-ubyte.gz", "mnist.npy": root / "digits.npy"}


@pytest.fixture(scope="module")
def registry(project, env, inputs) -> dict:
    files = {"lotto": str(project / LOTTO_FILE), "signals": str(inputs["signals.npy"]), "mnist": str(inputs["mnist.npy"])}
    return json.loads(run([sys.executable, "-c", REGISTRY_ANSWERS, json.dumps(files)], project, env).stdout.splitlines()[-1])


def test_stock_close_for_the_next_weekday_as_mlflow_models_predict_answers(project, env, tmp_path):
    out = tmp_path / "stock"
    done = predict(project, env, "stock-rnn", STOCK_FILE, "-o", str(out))
    [row] = rows(out / "next_close.csv")
    assert row["date"] == "2022-11-03"  # the file ends on Wednesday 2022-11-02
    assert (out / "next_close.png").read_bytes().startswith(b"\x89PNG")
    assert ("predicting with the candidate" in done.stderr) == (alias(project, "stock_rnn") == "candidate")
    # README's `mlflow models predict` on the raw file's last 30 rows (its other columns are ignored)
    lines = (project / STOCK_FILE).read_text().splitlines()
    (tmp_path / "last30.csv").write_text("\n".join([lines[0], *lines[-30:]]) + "\n")
    uri = f"models:/stock-rnn@{alias(project, 'stock_rnn')}"
    answer = run(["mlflow", "models", "predict", "-m", uri, "-i", str(tmp_path / "last30.csv"), "-t", "csv",
                  "--env-manager", "local"], project, env).stdout.strip().splitlines()[-1]
    assert float(row["next_close"]) == pytest.approx(json.loads(answer)["predictions"][0]["next_close"], abs=1e-4)


def test_lotto_numbers_for_the_next_round_from_the_official_workbook(project, env, tmp_path, registry):
    out = tmp_path / "lotto"
    done = predict(project, env, "lotto-rnn", LOTTO_FILE, "-o", str(out))
    [row] = rows(out / "next_draw.csv")
    assert row["round"] == "1166"
    assert [int(row[f"n{k}"]) for k in range(1, 7)] == registry["lotto"][0]
    assert "1 in 8,145,060" in done.stdout


def test_denoised_signals_noise_and_paths_from_a_csv(project, env, tmp_path, inputs, registry):
    out = tmp_path / "signals"
    predict(project, env, "signal-denoiser", str(inputs["signals"]), "-o", str(out))
    denoised = np.loadtxt(out / "denoised.csv", delimiter=",", ndmin=2)
    np.testing.assert_allclose(denoised, registry["signals"]["denoised"], rtol=1e-6, atol=1e-9)
    noise = rows(out / "noise.csv")
    assert [r["path"] for r in noise] == registry["signals"]["path"]
    assert [float(r["noise_sigma"]) for r in noise] == pytest.approx(registry["signals"]["noise_sigma"], rel=1e-6)
    assert (out / "signals.png").is_file()


def test_a_request_the_model_refuses_is_one_line_naming_the_file_and_nothing_written(project, env, tmp_path, inputs):
    out = tmp_path / "refused"
    done = predict(project, env, "signal-denoiser-seed", str(inputs["short"]), "-o", str(out), ok=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        f"error: {inputs['short']}: this model takes signals of exactly 150 points, got 100"
    assert not out.exists()


def test_mnist_reconstructions_latents_and_scores_then_the_decoder_alone(project, env, tmp_path, inputs, registry):
    out = tmp_path / "mnist"
    predict(project, env, "mnist-dense-ae", str(inputs["mnist"]), "-o", str(out))
    expected = registry["mnist"]
    latent = rows(out / "latent.csv")
    assert [r["image"] for r in latent] == [str(i) for i in range(6)]
    np.testing.assert_allclose([[float(v) for k, v in r.items() if k != "image"] for r in latent], expected["latent"],
                               rtol=1e-6, atol=1e-6)
    scores = [float(r["reconstruction_error"]) for r in rows(out / "scores.csv")]
    assert scores == pytest.approx(expected["reconstruction_error"], rel=1e-6)
    reconstructions = np.load(out / "reconstructions.npy")
    np.testing.assert_allclose(reconstructions, expected["reconstruction"], rtol=1e-5, atol=1e-3)
    assert (out / "reconstructions.png").is_file()
    # the decoder alone (a decode request the registered signature declares) on the latents just written
    decoded_dir = tmp_path / "decoded"
    predict(project, env, "mnist-dense-ae", "--decode", str(out / "latent.csv"), "-o", str(decoded_dir))
    np.testing.assert_allclose(np.load(decoded_dir / "decoded.npy"), reconstructions, atol=1e-2)
    assert (decoded_dir / "decoded.png").is_file()


def test_the_default_output_folder_is_predictions_per_model(project, env, inputs):
    predict(project, env, "mnist-dense-ae", str(inputs["mnist.npy"]))
    assert {p.name for p in (project / "predictions/mnist-dense-ae").iterdir()} == {
        "reconstructions.png", "reconstructions.npy", "latent.csv", "scores.csv"}
    ignored = run(["git", "check-ignore", "predictions/mnist-dense-ae/latent.csv"], project, env)
    assert ignored.stdout.strip() == "predictions/mnist-dense-ae/latent.csv"
