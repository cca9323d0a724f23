"""params.yaml: load once, validate everything, fail with the key that is wrong.

One pydantic model per section (pipeline/params.py has the building blocks); each model's params
class is in pipeline/model_params.py (torch-free, unlike the registry in pipeline/models, which
imports the tasks). Validation gives back plain dicts: the stages index params as dicts, and
dvc.yaml reads params.yaml itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import AfterValidator, Field, ValidationError, model_validator, with_config
from typing_extensions import TypedDict

from .data.signals import FAMILIES, noise_label
from .errors import ParamsError
from .model_params import DATASET_PARAMS, MODEL_PARAMS
from .params import STRICT, Choice, Float, Int, Items, Section, Text, params_error, problem

DEFAULT_PARAMS = Path("params.yaml")

SEED = Int(0, 2**32 - 1)


# --- ingest ---------------------------------------------------------------------------

class FileSource(Section):
    file: Text


class MnistSource(Section):
    dir: Text
    verify_md5: bool


class Ingest(Section):
    stock: FileSource
    lotto: FileSource
    mnist: MnistSource


# --- signals: a noise is picked by its `kind` -------------------------------------------
# A noise kind's keys are the keyword-only parameters of its function in data/signals.py.

class Gaussian(Section):
    kind: Literal["gaussian"]
    sigma: Float(ge=0)


class Spikes(Section):
    kind: Literal["spikes"]
    rate: Float(ge=0, le=1)
    level: Float(ge=0)


class Dropout(Section):
    kind: Literal["dropout"]
    rate: Float(ge=0, le=1)


class Relative(Section):
    kind: Literal["relative"]
    sigma: Float(ge=0)  # x each signal's range


class Laplace(Section):
    kind: Literal["laplace"]
    sigma: Float(ge=0)  # the standard deviation, x each signal's range


class StudentT(Section):
    kind: Literal["student_t"]
    sigma: Float(ge=0)  # the standard deviation, x each signal's range
    df: Float(gt=2)  # degrees of freedom: the t law has a finite variance above 2 only


class AR1(Section):
    kind: Literal["ar1"]
    sigma: Float(ge=0)  # the standard deviation at every point, x each signal's range
    phi: Float(gt=-1, lt=1)  # neighbours' correlation: the process is stationary for |phi| < 1 only


Noise = Annotated[Union[Gaussian, Spikes, Dropout, Relative, Laplace, StudentT, AR1], Field(discriminator="kind")]
Family = Choice(*FAMILIES)


def _label(noise: Section) -> str:
    return noise_label(noise.kind, noise.model_dump())


class Sweep(Section):
    """The evaluation across lengths and noise kinds: every family (held-out kinds included) x `noises`
    at each of `lengths`, over the same x span as the main files."""
    lengths: Items(Int(16, 100_000), unique=str)
    n_per_family: Int(1, 100_000)  # per (family, noise, length), in each of val and test
    noises: Items(Noise, max_len=127, unique=_label, what="noise setting")


class Signals(Section):
    n_per_family: Int(1, 10_000_000)  # training file, per (family, noise) pair
    n_test_per_family: Int(1, 10_000_000)  # held-out test file, per pair
    test_seed: SEED  # the test file's seed; must differ from `seed`
    length: Int(16, 100_000)
    x_start: Float()
    x_step: Float(gt=0)
    families: Items(Family, unique=str)  # trained on, and scored
    held_out_kinds: Items(Family, min_len=0, unique=str)  # scored, never trained on
    # the files name each noise by its label (noise_label): two noises with one label would be one
    # group; labels are stored as int8 (at most 127)
    noises: Items(Noise, max_len=127, unique=_label, what="noise setting")
    sweep: Sweep

    @model_validator(mode="after")
    def _held_out_is_not_trained_on(self) -> Signals:
        for i, name in enumerate(self.held_out_kinds):
            if name in self.families:
                raise problem(f"{name!r} is also in signals.families; a held-out kind must not be trained on",
                              at=f"held_out_kinds[{i}]")
        return self


# --- datasets: what the models of one dataset share -------------------------------------

Datasets = with_config({**STRICT, "title": "dataset"})(TypedDict("Datasets", dict(DATASET_PARAMS)))


# --- serve: how registered versions are served ------------------------------------------

# the most values one request may hold, per dataset (every dataset needs one)
RequestLimits = with_config({**STRICT, "title": "dataset"})(
    TypedDict("RequestLimits", {name: Int(1, 10**9) for name in DATASET_PARAMS})
)


class Serve(Section):
    max_request_values: RequestLimits


# --- train: model name -> that model's params ------------------------------------------

# total=False: params.yaml may hold any of the registered models; title: what its keys name
Train = with_config({**STRICT, "title": "model"})(
    TypedDict("Train", dict(MODEL_PARAMS), total=False)
)


def _not_empty(train: dict) -> dict:
    if not train:
        raise problem(f"expected at least one model; known models: {', '.join(MODEL_PARAMS)}")
    return train


class Params(Section):
    seed: SEED
    cpu_threads: Int(1, 1024)  # per stage process; results depend on it (pipeline.cli.pin_cpu_threads)
    ingest: Ingest
    signals: Signals
    datasets: Datasets
    serve: Serve
    train: Annotated[Train, AfterValidator(_not_empty)]

    @model_validator(mode="after")
    def _test_seed_differs(self) -> Params:
        if self.signals.test_seed == self.seed:
            raise problem(f"must differ from seed ({self.seed}), or the test signals repeat the training signals",
                          at="signals.test_seed")
        return self


def validate_params(raw: Any) -> dict:
    """params.yaml content (parsed YAML) as plain dicts, or ParamsError naming the first bad key."""
    try:
        return Params.model_validate(raw).model_dump()
    except ValidationError as err:
        raise params_error(err, Params) from None


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(str(path), "file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(str(path), f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return validate_params(raw)


def model_params(params: dict, name: str) -> dict:
    """A model's whole block: its `train.<name>` keys with its dataset's (`datasets.<dataset>`).

    The dataset's keys follow `dataset`, its split comes before `epochs`: checkpoints record the
    block, and this is the order every model's block had when it carried those keys itself.
    """
    if name not in params["train"]:
        raise ParamsError(f"train.{name}", f"no params block; models in params.yaml: {', '.join(params['train'])}")
    own = params["train"][name]
    shared = params["datasets"][own["dataset"]]
    block = {}
    for key, value in own.items():
        if key == "epochs":
            block["split"] = shared["split"]
        block[key] = value
        if key == "dataset":
            block.update((k, v) for k, v in shared.items() if k != "split")
    return block


def serve_config(params: dict, dataset: str) -> dict:
    """What a registered version of a `dataset` model is served with (its MLflow model config)."""
    return {"max_request_values": params["serve"]["max_request_values"][dataset]}


def dataset_key(block: dict) -> str:
    """Where a block's dataset keys (window, split, ...) live in params.yaml, for error messages."""
    return f"datasets.{block['dataset']}"
