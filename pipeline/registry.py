"""The model registry: every model's module (pipeline/models/<model>.py), each holding its network
class and its `SPEC`.

Adding a model = a params block under `train:` in params.yaml, its params class in
`pipeline/model_params.py` (entered in MODEL_PARAMS under the model's name), and its module
`pipeline/models/<model>.py`: its network class and `SPEC = ModelSpec(...)` (pipeline.tasks),
listed in MODULES below. Its task's code lives in `pipeline/tasks/<dataset>/`. This module imports
every model module, hence torch; params validation reads the torch-free MODEL_PARAMS instead.
"""
from __future__ import annotations

from typing import get_args

from .errors import ParamsError
from .model_params import MODEL_PARAMS, RefineParams, TrainingParams
from .models import (lotto_rnn, mnist_conv_ae, mnist_denoising_ae, mnist_dense_ae, mnist_lstm_ae, signal_denoiser,
                     signal_denoiser_seed, stock_rnn)
from .tasks import ModelSpec

MODULES = (stock_rnn, lotto_rnn, signal_denoiser_seed, signal_denoiser, mnist_dense_ae, mnist_conv_ae,
           mnist_denoising_ae, mnist_lstm_ae)
MODELS: dict[str, ModelSpec] = {module.SPEC.name: module.SPEC for module in MODULES}


def check_model(module, params: type[TrainingParams]) -> None:
    """A model's module, spec and params class must fit together; a mismatch is a bug in one of them."""
    spec = module.SPEC
    if module.__name__ != f"pipeline.models.{spec.name}":  # dvc.yaml's train stage depends on it by that name
        raise TypeError(f"{module.__name__} holds the spec of {spec.name!r}; name the module after its model")
    if get_args(params.model_fields["dataset"].annotation) != (spec.task.dataset,):
        raise TypeError(f"{spec.name}: {params.__name__}.dataset must be Literal[{spec.task.dataset!r}]")
    if (spec.refine_loss is not None) != issubclass(params, RefineParams):
        raise TypeError(f"{spec.name}: a refine_loss needs RefineParams, and RefineParams a refine_loss")


if list(MODELS) != list(MODEL_PARAMS):  # a bug in one of the two tables
    raise TypeError("pipeline.registry.MODELS and pipeline.model_params.MODEL_PARAMS name different models")
for _module in MODULES:
    check_model(_module, MODEL_PARAMS[_module.SPEC.name])


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
