"""The model registry: each model's spec (its task and network classes) with its params class.

A model is its entry in MODEL_PARAMS (pipeline/model_params.py: its name and params class,
torch-free for params validation) and its module `pipeline/models/<name>.py` (its network class
and `SPEC = ModelSpec(...)`), found by that name: the same name dvc.yaml's train stage depends on,
and the module a served version loads (pipeline.serving). Adding a model = a params block under
`train:` in params.yaml, its params class entered in MODEL_PARAMS, and its module. This module
imports every model's module, hence torch.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import get_args

from .errors import ParamsError
from .model_params import MODEL_PARAMS, RefineParams, TrainingParams
from .tasks import ModelSpec


def model_module(name: str) -> ModuleType:
    """pipeline/models/<name>.py, the module of the model `name`."""
    return importlib.import_module(f"{__package__}.models.{name}")


def check_model(module: ModuleType, params: type[TrainingParams]) -> None:
    """A model's module, spec and params class must fit together; a mismatch is a bug in one of them."""
    spec = module.SPEC
    if module.__name__ != f"{__package__}.models.{spec.name}":
        raise TypeError(f"{module.__name__} holds the spec of {spec.name!r}; name the module after its model")
    if get_args(params.model_fields["dataset"].annotation) != (spec.task.dataset,):
        raise TypeError(f"{spec.name}: {params.__name__}.dataset must be Literal[{spec.task.dataset!r}]")
    if (spec.refine_loss is not None) != issubclass(params, RefineParams):
        raise TypeError(f"{spec.name}: a refine_loss needs RefineParams, and RefineParams a refine_loss")


def _load() -> dict[str, ModelSpec]:
    models = {}
    for name, params in MODEL_PARAMS.items():
        module = model_module(name)
        check_model(module, params)
        models[name] = module.SPEC
    return models


MODELS: dict[str, ModelSpec] = _load()


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
