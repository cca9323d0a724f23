"""MLflow in one place: where the store is, experiment per model, run names and tags.

Default store: ``sqlite:///<repo>/mlflow.db`` with artifacts in ``<repo>/mlartifacts``.
``MLFLOW_TRACKING_URI`` from the environment wins (e.g. a shared tracking server).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def project_root() -> Path:
    """The repository that owns the MLflow store.

    `dvc exp run --temp` and queued experiments run in a copy under
    ``<repo>/.dvc/tmp/exps/``; their runs belong in the real repo's store, not the copy's.
    """
    root = Path(__file__).resolve().parents[1]
    parts = root.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def display_uri(uri: str) -> str:
    """`uri` safe to print: a password in it (postgresql+psycopg2://user:secret@host/db) is masked."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def uses_default_store() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def mlflow():
    """Import MLflow (slow, ~3 s) only where needed, pointed at our store."""
    import mlflow as _mlflow

    _mlflow.set_tracking_uri(tracking_uri())
    return _mlflow


def open_store() -> None:
    """Create the store's tables if they are not there yet. A new sqlite store is created by its first
    client, and two processes doing that at once fail ("table ... already exists"): call this before
    starting stages side by side."""
    mlflow().MlflowClient().search_experiments(max_results=1)


def ensure_experiment(name: str, description: str) -> str:
    client = mlflow().MlflowClient()
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    # with the default store, artifacts go beside the db, not into the CWD's ./mlruns
    location = (project_root() / "mlartifacts" / name).as_uri() if uses_default_store() else None
    return client.create_experiment(name, artifact_location=location, tags={"mlflow.note.content": description})


def recorded_run(model: str) -> dict:
    """models/<model>/mlflow_run.json (the run train@<model> logged to), checked against the current
    tracking store: evaluate and register log into that run."""
    from mlflow.exceptions import MlflowException

    from . import paths
    from .errors import PipelineError

    path = paths.run_record(model)
    record = json.loads(path.read_text())
    try:
        mlflow().get_run(record["run_id"])
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":  # e.g. a server that is down: its own message
            raise
        raise PipelineError(f"{path}: run {record['run_id']} is not in the tracking store "
                            f"{display_uri(tracking_uri())}; retrain to log a new one: dvc repro -f train@{model}") from None
    return record


def dataset_digest(files: dict[str, str]) -> str:
    """One digest for a dataset from its files' md5s ({file name: md5}, the ingest summary's `files`):
    a single file's own md5 (`md5sum` checks it), else the md5 of the sorted `name:md5` list."""
    if len(files) == 1:
        return next(iter(files.values()))
    return hashlib.md5(",".join(f"{k}:{v}" for k, v in sorted(files.items())).encode()).hexdigest()


def log_dataset(data_dir: Path, summary: dict) -> None:
    """Log the DVC output `data_dir` as the active run's training input (MLflow's Datasets column): named
    and sourced by its path, with dataset_digest of the ingest summary's files."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():
        # MLflow registers its local-file source for the schemes "" and "file" both, and warns that a
        # path matches the two: they are the same class
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(data_dir.as_posix())
    dataset = MetaDataset(source, name=data_dir.as_posix(), digest=dataset_digest(summary.get("files", {})))
    mlflow().log_input(dataset, context="training")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path.cwd(), timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def params_digest(params: Any) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"split": {"train": 0.7}} -> {"split.train": 0.7}; lists become strings."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return flat


def run_identity(model: str, block: dict, params: dict) -> tuple[str, dict[str, str]]:
    """A run name a person can tell apart in the UI, and tags that tie the run to code and data.

    `pipeline_run` is the same for every model trained from one commit and one params.yaml
    (one `dvc repro` or `dvc exp run`): filter on it in the UI to compare one pipeline run.
    """
    digest = params_digest(block)
    exp_name = os.environ.get("DVC_EXP_NAME")
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    name = f"{model} · {exp_name or 'params ' + digest} · {stamp}"
    commit = git_commit()
    tags = {"model": model, "params_digest": digest,
            "pipeline_run": exp_name or params_digest({"commit": commit, "params": params})}
    if exp_name:
        tags["dvc_exp_name"] = exp_name
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return name, tags
