"""SignalsTask: the signal task's contract, naming the functions of the package's modules."""
from __future__ import annotations

from .. import Task
from . import epoch_metrics, input_example, prepare, training_plan
from .scoring import SERVE_PARAMS, SUMMARY_TABLES, evaluate, gate, serve


class SignalsTask(Task):
    dataset = "signals"
    prepare = staticmethod(prepare)
    evaluate = staticmethod(evaluate)
    gate = staticmethod(gate)
    input_example = staticmethod(input_example)
    serve = staticmethod(serve)
    serve_params = SERVE_PARAMS
    summary_tables = SUMMARY_TABLES
    epoch_metrics = staticmethod(epoch_metrics)
    training_plan = staticmethod(training_plan)
