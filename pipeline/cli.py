"""Shared entry-point behaviour for every `python -m pipeline.<stage>` command."""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable

from .errors import PipelineError


def _terminate(signum, frame):
    # SystemExit unwinds `with` blocks: temp files are removed and MLflow marks the run FAILED.
    raise SystemExit(128 + signum)


def main_wrapper(main: Callable[[list[str] | None], None]) -> Callable[[list[str] | None], None]:
    """Run `main`; expected failures print one line `error: ...` and exit 2, no traceback."""

    def entry(argv: list[str] | None = None) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        signal.signal(signal.SIGTERM, _terminate)
        try:
            main(argv)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return entry
