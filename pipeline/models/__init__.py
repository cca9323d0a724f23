"""The model registry: one module per model, each holding its network class and its `SPEC`.

Adding a model = a params block under `train:` in params.yaml, its params class in
`pipeline/model_params.py` (entered in MODEL_PARAMS under the model's name), and its module here,
`pipeline/models/<model>.py`: its network class and `SPEC = ModelSpec(...)` (pipeline.tasks),
listed in MODULES below. Its task's code lives in `pipeline/tasks/<dataset>/`. This package imports
every model module, hence torch; params validation reads the torch-free MODEL_PARAMS instead.
"""
from __future__ import annotations

from ..errors import ParamsError
from ..model_params import MODEL_PARAMS
from ..tasks import ModelSpec
from . import (lotto_rnn, mnist_conv_ae, mnist_denoising_ae, mnist_dense_ae, mnist_lstm_ae, signal_denoiser,
               signal_denoiser_seed, stock_rnn)

MODULES = (stock_rnn, lotto_rnn, signal_denoiser_seed, signal_denoiser, mnist_dense_ae, mnist_conv_ae,
           mnist_denoising_ae, mnist_lstm_ae)
MODELS: dict[str, ModelSpec] = {module.SPEC.name: module.SPEC for module in MODULES}

for _module in MODULES:  # a model's module is named after it: dvc.yaml's train stage depends on it by that name
    if _module.__name__ != f"{__name__}.{_module.SPEC.name}":
        raise TypeError(f"{_module.__name__} holds the spec of {_module.SPEC.name!r}; name the module after its model")
if {name: spec.params for name, spec in MODELS.items()} != MODEL_PARAMS:  # a bug in one of the two tables
    raise TypeError("pipeline.models.MODELS and pipeline.model_params.MODEL_PARAMS name different models")


def get_model(name: str, key: str = "model") -> ModelSpec:
    if name not in MODELS:
        raise ParamsError(key, f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]
