"""SignalsTask: the signal task's contract, naming the functions of the package's modules."""
from __future__ import annotations

from .. import task_class
from . import epoch_metrics, input_example, prepare, training_plan
from .scoring import SERVE_PARAMS, SUMMARY_TABLES, gate, serve
from .sweep import evaluate  # the test file's evaluation and the sweep across lengths and noise kinds


SignalsTask = task_class("SignalsTask", "signals", __name__, prepare=prepare, evaluate=evaluate, gate=gate,
                         input_example=input_example, serve=serve, serve_params=SERVE_PARAMS,
                         summary_tables=SUMMARY_TABLES, epoch_metrics=epoch_metrics, training_plan=training_plan)
