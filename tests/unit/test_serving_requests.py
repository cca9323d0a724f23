"""The served pyfunc's own request bound, counted before any work, and a signature that lets the
task's check answer every request (no input schema for MLflow to check first and quote back)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_params, serve_config
from pipeline.errors import PayloadError
from pipeline.register import serving_signature
from pipeline.serving import PipelineModel, RequestError, request_values


@pytest.mark.parametrize("request_body, count", [
    (np.zeros((3, 150)), 450),
    (pd.DataFrame(np.ones((30, 3)), columns=["Open", "High", "Low"]), 90),
    ([[1.0, 2.0], [3.0]], 3),
    ({"a": np.zeros(4), "b": [1, 2]}, 6),
    ("text", 1),
])
def test_a_request_is_counted_by_its_values(request_body, count):
    assert request_values(request_body) == count


class Task:
    dataset = "signals"
    serve_params = {}

    def __init__(self):
        self.calls = 0

    def serve(self, model, meta, request):
        self.calls += 1
        return request


def served(limit: int | None) -> PipelineModel:
    model = PipelineModel()
    model.task, model.model, model.meta, model.max_values = Task(), None, {}, limit
    return model


def test_a_request_over_the_limit_is_refused_before_the_task_sees_it():
    model = served(100)
    with pytest.raises(RequestError) as err:
        model.predict(None, np.zeros((1, 101)))
    assert err.value.message == ("bad request: 101 values, more than the 100 one request may hold "
                                 "(serve.max_request_values.signals in params.yaml); split it into smaller requests")
    assert model.task.calls == 0
    assert model.predict(None, np.zeros((1, 100))).shape == (1, 100)  # at the limit: served
    assert model.task.calls == 1


class Recording:
    """A task that records what serve is given; a request of "bad" is malformed. `params`: whether its
    serve takes request params at all (the stock and lotto tasks' does not)."""

    dataset = "signals"

    def __init__(self, params: bool):
        self.serve_params = {"noise_sigma": ("double", None)} if params else {}
        self.calls = []
        if not params:
            self.serve = lambda model, meta, request: self._record(model, meta, request, None)

    def _record(self, model, meta, request, params):
        if isinstance(request, str) and request == "bad":
            raise PayloadError("expected numbers")
        self.calls.append((model, meta, request, params))
        return "answer"

    def serve(self, model, meta, request, params=None):
        return self._record(model, meta, request, params)


def recording(params: bool) -> PipelineModel:
    model = PipelineModel()
    model.task, model.model, model.meta, model.max_values = Recording(params), object(), {"length": 150}, 10
    return model


def test_the_model_its_meta_the_request_and_only_declared_params_reach_the_task():
    served = recording(params=True)
    request = np.zeros((1, 4))
    assert served.predict(None, request, params={"noise_sigma": 0.5, "decode": True}) == "answer"
    [(model, meta, given, params)] = served.task.calls
    assert model is served.model and meta is served.meta and given is request and params == {"noise_sigma": 0.5}
    bare = recording(params=False)  # a serve without request params is called without them
    assert bare.predict(None, request, params={"noise_sigma": 0.5}) == "answer"
    [(model, meta, given, params)] = bare.task.calls
    assert model is bare.model and meta is bare.meta and given is request and params is None


def test_a_malformed_request_is_a_request_error_with_the_tasks_message():
    with pytest.raises(RequestError) as err:
        recording(params=True).predict(None, "bad")
    assert err.value.message == "bad request: expected numbers"


def test_a_version_registered_without_a_limit_serves_any_size():
    assert served(None).predict(None, np.zeros((1, 10_000))).shape == (1, 10_000)


def test_every_dataset_has_a_limit_in_params_and_a_version_gets_its_datasets():
    params = load_params()
    assert serve_config(params, "signals") == {"max_request_values": params["serve"]["max_request_values"]["signals"]}
    assert serve_config(params, "stock") != serve_config(params, "mnist")


def test_the_signature_declares_outputs_and_request_params_but_no_input_schema():
    from mlflow.models import infer_signature

    inferred = infer_signature(pd.DataFrame({"Open": [1.0]}), pd.DataFrame({"next_close": [2.0]}))
    signature = serving_signature(inferred, {"noise_sigma": ("double", -1.0)})
    assert signature.inputs is None
    assert signature.outputs == inferred.outputs
    assert [p.name for p in signature.params.params] == ["noise_sigma"]


def test_the_pyfunc_skips_mlflows_type_hint_validation_which_would_quote_the_request():
    # MLflow wraps a PythonModel's predict at class creation, and marks the wrapper, unless this is set
    assert PipelineModel._skip_type_hint_validation is True
    assert not getattr(PipelineModel.predict, "_is_pyfunc", False)
