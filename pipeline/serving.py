"""The one pyfunc class every registered model is served through.

It loads the checkpoint (weights + meta) and hands raw-unit requests to the model's task
(`task.serve`). A request holding more values than the version's `max_request_values` (its model
config, from params.yaml's `serve:`) is refused before any work. Malformed requests raise
PayloadError, which becomes HTTP 400 with the message; the payload itself is never echoed or
logged. The version's signature declares no input schema, so no check of MLflow's (which quotes
the request in its message) runs before the task's own.

Torch threads: set once per server process, from PIPELINE_TORCH_THREADS where the server's
environment gives it (`python -m pipeline.serve` sets one per worker), else torch's default.
"""
from __future__ import annotations

import importlib
import os

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from .cli import SERVE_THREADS_ENV
from .errors import PayloadError
from .tasks import ModelSpec, load_checkpoint


def model_spec(name: str) -> ModelSpec:
    """A model's spec from its own module (pipeline/models/<name>.py, as pipeline.registry finds it):
    a served version loads its model's code alone, which is what it ships (pipeline.bundle)."""
    return importlib.import_module(f"{__package__}.models.{name}").SPEC


class RequestError(MlflowException):
    """HTTP 400 whose message stays as written.

    MLflow's scoring server rewrites a predict error's message to embed the whole request
    ("Failed to predict data '<payload>'"); clients get a short answer instead, and
    payloads (which may be private) do not end up in responses.
    """

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_message"):  # the first assignment (our own) wins
            self._message = value


def request_values(model_input) -> int:
    """How many values a request holds (rows x columns, images x pixels, signals x points), as
    MLflow's parser gives it: a DataFrame or an array; a list or dict is counted by its leaves."""
    size = getattr(model_input, "size", None)
    if isinstance(size, int):
        return size
    if isinstance(model_input, dict):
        return sum(request_values(v) for v in model_input.values())
    if isinstance(model_input, (list, tuple)):
        return sum(request_values(v) for v in model_input)
    return 1


class PipelineModel(mlflow.pyfunc.PythonModel):
    # Requests are checked by the task, which names what is wrong; MLflow's type-hint validation
    # (what its load-time warning asks for) would answer some of them first, quoting the request.
    _skip_type_hint_validation = True

    def load_context(self, context):
        threads = os.environ.get(SERVE_THREADS_ENV)
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        config = getattr(context, "model_config", None) or {}
        self.max_values = config.get("max_request_values")  # None: a version registered without a limit
        checkpoint = load_checkpoint(context.artifacts["checkpoint"])
        self.meta = checkpoint["meta"]
        spec = model_spec(self.meta["model"])
        self.task = spec.task
        model = spec.build(self.meta["params"], self.meta)
        model.load_state_dict(checkpoint["state_dict"])
        self.model = model.eval()

    def predict(self, context, model_input, params=None):
        # the task's declared request params only (MLflow has checked their types against the signature)
        declared = {k: v for k, v in (params or {}).items() if k in self.task.serve_params}
        if self.max_values is not None:
            count = request_values(model_input)
            if count > self.max_values:
                raise RequestError(
                    f"bad request: {count} values, more than the {self.max_values} one request may hold "
                    f"(serve.max_request_values.{self.task.dataset} in params.yaml); split it into smaller requests")
        try:
            if declared:
                return self.task.serve(self.model, self.meta, model_input, params=declared)
            return self.task.serve(self.model, self.meta, model_input)
        except PayloadError as exc:
            raise RequestError(f"bad request: {exc}") from None
