"""Errors the pipeline expects and reports to users as one clear line (no traceback)."""
from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """A failure caused by the user's input (a file, a param, a payload), not by a bug."""


class DataError(PipelineError):
    """A data file is unreadable or fails validation.

    The message names the file, where in it (row/column/record) and what was expected.
    """

    def __init__(self, file: str | Path, problem: str, where: str | None = None):
        self.file = str(file)
        self.where = where
        self.problem = problem
        location = f"{self.file}: {where}" if where else self.file
        super().__init__(f"{location}: {problem}")


class ParamsError(PipelineError):
    """params.yaml (or an override) breaks the schema; the message names the key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"params: {key}: {problem}")


class PayloadError(PipelineError):
    """A request to a served model is malformed; served as HTTP 400 with this message."""
