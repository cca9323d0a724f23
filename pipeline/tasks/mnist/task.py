"""MnistTask: the MNIST task's contract, naming the functions of the package's modules."""
from __future__ import annotations

from .. import task_class
from . import evaluate, gate, prepare
from .serving import SERVE_PARAMS, input_example, serve


MnistTask = task_class("MnistTask", "mnist", __name__, prepare=prepare, evaluate=evaluate, gate=gate,
                       input_example=input_example, serve=serve, serve_params=SERVE_PARAMS)
