"""The one pyfunc class every registered model is served through.

It loads the checkpoint (weights + meta) and hands raw-unit requests to the model's task
(`task.serve`). Malformed requests raise PayloadError, which becomes HTTP 400 with the
message; the payload itself is never echoed or logged.
"""
from __future__ import annotations

import importlib

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

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


class PipelineModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
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
        try:
            if declared:
                return self.task.serve(self.model, self.meta, model_input, params=declared)
            return self.task.serve(self.model, self.meta, model_input)
        except PayloadError as exc:
            raise RequestError(f"bad request: {exc}") from None
