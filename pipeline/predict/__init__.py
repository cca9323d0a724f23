"""`make predict`: a registered model's answers for the inputs in a file, written as files.

    python -m pipeline.predict MODEL INPUT [-o OUTPUT]
    python -m pipeline.predict MODEL --decode LATENT.csv [-o OUTPUT]   # the MNIST autoencoders' decoder

MODEL is a registered name (or its params key). Its `champion` answers, else its `candidate` (with a
warning), loaded with mlflow.pyfunc.load_model: the pyfunc `make serve` serves. What INPUT may be
depends on the model's task: the module named after its dataset here reads it and writes the answer
(stock.py, lotto.py, signals.py, mnist.py). OUTPUT, a folder, defaults to predictions/<model>/.
Bad input stops with one line naming the file and the problem, exit code 2, before anything is
written; each file is written to a temp path and renamed.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..cli import main_wrapper
from ..errors import DataError, PipelineError
from ..io import atomic_path
from .common import Outputs

OUTPUT_ROOT = Path("predictions")


@dataclass(frozen=True)
class Served:
    """A loaded registered model, called as the server calls it; its request errors name `source`."""

    name: str  # registered name
    uri: str  # models:/<name>@<alias>
    source: Path  # the input file
    meta: dict  # the checkpoint's meta (window, features, ...)
    params: frozenset[str]  # the request params its signature declares
    pyfunc: Any

    def __call__(self, request, params: dict | None = None):
        from mlflow.exceptions import MlflowException

        try:
            return self.pyfunc.predict(request, params=params)
        except MlflowException as exc:  # the model's own check of the request (RequestError), or MLflow's
            raise DataError(self.source, exc.message.removeprefix("bad request: ")[:300]) from None


def kind_of(model: str) -> tuple[str, ModuleType]:
    """The model's registered name and the module here for its task's dataset."""
    from ..registry import MODELS
    from ..serve import resolve_registered_name

    name = resolve_registered_name(model)
    dataset = next(spec.dataset for spec in MODELS.values() if spec.registered_name == name)
    module = f"{__package__}.{dataset}"
    try:
        return name, importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise PipelineError(f"{name}: predicting from files is not available for its task ({dataset}) yet") from None


def load(name: str, source: Path) -> Served:
    from .. import tracking
    from ..register import CHAMPION
    from ..serve import candidate_warning, resolve_model_uri

    uri, alias = resolve_model_uri(name)
    if alias != CHAMPION:
        print(candidate_warning(uri, "predicting with"), file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:  # (MLflow resets the filters inside)
        pyfunc = tracking.mlflow().pyfunc.load_model(uri)
    for warning in caught:  # all but MLflow's advice to whoever logged the model, which is not for its users
        if "Add type hints to the `predict` method" not in str(warning.message):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    schema = pyfunc.metadata.get_params_schema()
    declared = frozenset(p.name for p in schema.params) if schema is not None else frozenset()
    return Served(name, uri, source, pyfunc.unwrap_python_model().meta, declared, pyfunc)


def check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise PipelineError(f"{folder}: exists and is not a folder; OUTPUT names a folder for the answer's files")


def write(folder: Path, outputs: Outputs) -> list[Path]:
    written = []
    for name, content in outputs.files.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(content)
        written.append(folder / name)
    return written


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registered name (stock-rnn) or params key (stock_rnn)")
    parser.add_argument("input", nargs="?", help="the input file (or a folder of PNG images); README.md says which")
    parser.add_argument("--decode", metavar="LATENT.csv", help="MNIST autoencoders: decode these latent vectors")
    parser.add_argument("-o", "--output", help=f"folder for the answer's files (default: {OUTPUT_ROOT}/<model>/)")
    args = parser.parse_args(argv)
    if (args.input is None) == (args.decode is None):
        parser.error("give INPUT or --decode LATENT.csv, not both")
    name, kind = kind_of(args.model)
    folder = Path(args.output) if args.output else OUTPUT_ROOT / name
    check_folder(folder)
    if args.decode is not None:
        if not hasattr(kind, "decode"):
            raise PipelineError(f"--decode: {name} has no decoder to run (it is for the MNIST autoencoders)")
        source, run = Path(args.decode), kind.decode
        data = kind.read_decode(source)
    else:
        source, run = Path(args.input), kind.predict
        data = kind.read(source)
    served = load(name, source)
    outputs = run(served, data)
    written = write(folder, outputs)
    print(f"{served.uri} on {source}:")
    for line in outputs.lines:
        print(f"  {line}")
    print(f"wrote {', '.join(map(str, written))}")
