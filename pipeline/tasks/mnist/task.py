"""MnistTask: the MNIST task's contract, naming the functions of the package's modules."""
from __future__ import annotations

from .. import Task
from . import evaluate, gate, prepare
from .serving import SERVE_PARAMS, input_example, serve


class MnistTask(Task):
    """The mnist task's contract (every MNIST autoencoder shares it)."""

    dataset = "mnist"
    prepare = staticmethod(prepare)
    evaluate = staticmethod(evaluate)
    gate = staticmethod(gate)
    input_example = staticmethod(input_example)
    serve = staticmethod(serve)
    serve_params = SERVE_PARAMS
