"""Serve a registered model over HTTP on 127.0.0.1 with `mlflow models serve`.

Serves the `champion` version; when no version has passed the quality gate yet, serves
`candidate` and says so.
"""
from __future__ import annotations

import argparse
import os
import sys

from .cli import main_wrapper
from .errors import PipelineError
from .models import MODELS
from .register import CANDIDATE, CHAMPION, alias_version


def resolve_registered_name(model: str) -> str:
    for spec in MODELS.values():
        if model in (spec.name, spec.registered_name):
            return spec.registered_name
    names = ", ".join(spec.registered_name for spec in MODELS.values())
    raise PipelineError(f"unknown model {model!r}; registered models: {names}")


def resolve_model_uri(model: str) -> tuple[str, str]:
    """`models:/<name>@champion`, or `@candidate` when there is no champion yet."""
    from . import tracking

    name = resolve_registered_name(model)
    client = tracking.mlflow().MlflowClient()
    for alias in (CHAMPION, CANDIDATE):
        if alias_version(client, name, alias) is not None:
            return f"models:/{name}@{alias}", alias
    raise PipelineError(f"{name} has no registered version in {tracking.display_uri(tracking.tracking_uri())}; run `make repro` first")


def serve_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    return ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
            "--host", host, "--port", str(port), "--workers", str(workers)]


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registered name (stock-rnn) or params key (stock_rnn)")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--host", default="127.0.0.1", help="default %(default)s: loopback only")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    uri, alias = resolve_model_uri(args.model)
    if alias != CHAMPION:
        print(f"warning: no version of {uri.split('@')[0]} passed its quality gate; serving the candidate "
              "(see the version's gate_reason tag in the MLflow UI)", file=sys.stderr)
    command = serve_command(uri, args.host, args.port, args.workers)
    print(f"serving {uri} on http://{args.host}:{args.port}/invocations", file=sys.stderr)
    sys.stdout.flush()
    # `mlflow` and the server processes it starts come from this interpreter's environment, also
    # when that environment's bin is not on PATH (`.venv/bin/python -m pipeline.serve ...`)
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
