"""params.yaml: load once, validate everything, fail with the key that is wrong."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .data.signals import FAMILIES
from .errors import ParamsError
from .models import get_model
from .schema import Bool, Float, Int, List, Mapping, Section, Str, Tagged

DEFAULT_PARAMS = Path("params.yaml")

NOISE = Tagged(
    "kind",
    {
        "gaussian": Section({"sigma": Float(0)}),
        "spikes": Section({"rate": Float(0, 1), "level": Float(0)}),
        "dropout": Section({"rate": Float(0, 1)}),
        "relative": Section({"sigma": Float(0)}),  # sigma x each signal's range
    },
)

SCHEMA = Section(
    {
        "seed": Int(0, 2**32 - 1),
        "cpu_threads": Int(1, 1024),  # per stage process; results depend on it (pipeline.cli.pin_cpu_threads)
        "ingest": Section(
            {
                "stock": Section({"file": Str()}),
                "lotto": Section({"file": Str()}),
                "mnist": Section({"dir": Str(), "verify_md5": Bool()}),
            }
        ),
        "signals": Section(
            {
                "n_per_family": Int(1, 10_000_000),  # training file, per (family, noise) pair
                "n_test_per_family": Int(1, 10_000_000),  # held-out test file, per pair
                "test_seed": Int(0, 2**32 - 1),  # the test file's seed; must differ from `seed`
                "length": Int(16, 100_000),
                "x_start": Float(),
                "x_step": Float(0, min_exclusive=True),
                "families": List(Str(tuple(FAMILIES)), unique=True),  # trained on, and scored
                "held_out_kinds": List(Str(tuple(FAMILIES)), min_len=0, unique=True),  # scored, never trained on
                "noises": List(NOISE, unique=True),
            }
        ),
        "train": Mapping(lambda name, key: get_model(name, key).schema()),
    }
)


def validate_params(raw: Any) -> dict:
    return SCHEMA.validate(raw, "")


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
    if name not in params["train"]:
        raise ParamsError(f"train.{name}", f"no params block; models in params.yaml: {', '.join(params['train'])}")
    return params["train"][name]
