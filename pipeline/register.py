"""Stage `register`: log each evaluated model to the MLflow Model Registry behind a quality gate.

A new version gets the alias `champion` only if it beats its baseline on the test data
and scores better than the current champion; otherwise it gets `candidate`. The version's
tags record the metrics and the reason. A checkpoint already registered with the same serving
code and serve config is not registered again; new serving code, or a new `serve:` config in
params.yaml (the version's MLflow model config), makes a new version of the same checkpoint. A
version ships the pipeline modules its model's pyfunc runs and no others (pipeline.bundle), so an
edit to another model's or another task's code leaves it as it is. Writes reports/registry.json.

    python -m pipeline.register              # every model under train: in params.yaml
    python -m pipeline.register stock_rnn    # that model alone
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from . import bundle, paths
from .cli import main_wrapper, pin_cpu_threads, stage_parser, tracking_write
from .config import load_params, serve_config
from .errors import ParamsError
from .io import write_json
from .registry import ModelSpec, get_model

CHAMPION, CANDIDATE = "champion", "candidate"


def _requirements() -> list[str]:
    import importlib.metadata as md

    # scipy: the signal denoisers' guard filters with it
    return [f"{pkg}=={md.version(pkg)}" for pkg in ("mlflow", "torch", "numpy", "pandas", "scipy")]


def existing_version(client, name: str, checkpoint_md5: str, serving_code: str, serve_config: str):
    """The version of `name` that holds this checkpoint with this serving code and serve config
    (JSON), if any."""
    for version in client.search_model_versions(f"name='{name}'"):
        tags = version.tags
        if (tags.get("checkpoint_md5"), tags.get("code_digest"), tags.get("serve_config")) == \
                (checkpoint_md5, serving_code, serve_config):
            return version
    return None


def rival_champion(champion, checkpoint_md5: str):
    """The champion a new version must beat: none where the champion holds this same checkpoint (the
    new version is that model with newer serving code, and takes the alias if it passes its gate)."""
    if champion is not None and champion.tags.get("checkpoint_md5") == checkpoint_md5:
        return None
    return champion


def alias_version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def serving_signature(inferred, serve_params: dict):
    """The outputs MLflow inferred and the task's request params; no input schema. The task checks
    every request itself and names the problem, while MLflow's schema check would answer some
    requests first, quoting the whole request back. The input example (logged with the version)
    shows the request's form. `serve_params` (name -> (type, default)) become the signature's
    request params, which MLflow passes on to predict."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    params = ParamSchema([ParamSpec(name, dtype, default) for name, (dtype, default) in serve_params.items()]) \
        if serve_params else None
    return ModelSignature(inputs=None, outputs=inferred.outputs, params=params)


def _test_data_id(spec: ModelSpec, params: dict) -> str:
    """Identifies the test set a score was measured on: the processed data and how its dataset's
    params (`datasets.<dataset>`: window, split, ...) cut it."""
    from .tracking import params_digest

    summary = json.loads((paths.dataset_dir(spec.dataset) / "summary.json").read_text())
    return params_digest({"files": summary.get("files"), "data": params["datasets"][spec.dataset]})


def _champion_score(mlflow, spec: ModelSpec, champion, params: dict, test_data: str) -> float | None:
    """The champion's gate score on the SAME test data as the new version."""
    if champion is None:
        return None
    if champion.tags.get("test_data_id") == test_data:
        return float(champion.tags["gate_score"])
    # scored on other data (new data or split): evaluate the champion again on this test set
    served = mlflow.pyfunc.load_model(f"models:/{spec.registered_name}/{champion.version}").unwrap_python_model()
    # its own params, this run's split: the same test examples as the new version's
    block = {**served.meta["params"], "split": params["datasets"][spec.dataset]["split"]}
    prepared = spec.task.prepare(paths.dataset_dir(spec.dataset), block, f"champion v{champion.version}",
                                 params["seed"])
    return spec.task.gate(spec.task.evaluate(served.model, prepared, block).metrics).score


def decide(verdict, champion_score: float | None) -> tuple[str, str]:
    """The alias a new version earns, and why."""
    if not verdict.passed:
        return CANDIDATE, f"gate failed: {verdict.reason}"
    if champion_score is not None and not verdict.score < champion_score:
        return CANDIDATE, f"{verdict.reason}, but does not beat the champion's {verdict.score_name} {champion_score:.4g}"
    return CHAMPION, f"gate passed: {verdict.reason}"


def register_model(spec: ModelSpec, params: dict) -> dict:
    from . import tracking
    from .evaluate import load_trained
    from .serving import PipelineModel

    mlflow = tracking.mlflow()
    client = mlflow.MlflowClient()
    record = tracking.recorded_run(spec.name)
    metrics = json.loads(paths.eval_metrics(spec.name).read_text())
    task = spec.task
    verdict = task.gate(metrics)

    if client.search_registered_models(f"name='{spec.registered_name}'") == []:
        client.create_registered_model(spec.registered_name, description=spec.description)
    root = tracking.project_root()
    shipped = bundle.model_code(root, spec.name)  # what this model's pyfunc runs, and all it ships
    serving_code = bundle.digest(root, shipped)
    config = serve_config(params, spec.dataset)
    config_tag = json.dumps(config, sort_keys=True)
    existing = existing_version(client, spec.registered_name, record["checkpoint_md5"], serving_code, config_tag)
    if existing is not None:
        # search results do not carry aliases on every store: fetch the version itself
        version = client.get_model_version(spec.registered_name, existing.version)
        # the gate's reason from when it was registered, so the report still says why it holds its alias
        return {"version": int(version.version), "aliases": list(version.aliases),
                "reason": version.tags.get("gate_reason", "registered before gate reasons were recorded"), "new": False}

    test_data = _test_data_id(spec, params)
    champion = rival_champion(alias_version(client, spec.registered_name, CHAMPION), record["checkpoint_md5"])
    # the champion only matters to a version that passed its gate (re-scoring it can be slow)
    champion_score = _champion_score(mlflow, spec, champion, params, test_data) if verdict.passed else None
    alias, reason = decide(verdict, champion_score)

    prepared, model = load_trained(spec, params)
    example = task.input_example(prepared)
    output = task.serve(model, prepared.meta, example)
    signature = serving_signature(mlflow.models.infer_signature(example, output), task.serve_params)
    tags = {
        "gate_passed": str(verdict.passed),
        "gate_reason": reason,
        "gate_score": repr(verdict.score),
        "gate_score_name": verdict.score_name,
        "checkpoint_md5": record["checkpoint_md5"],
        "code_digest": serving_code,
        "serve_config": config_tag,
        "test_data_id": test_data,
        "status": alias,
        **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()},
    }
    # a signal waits for the block's end: cut inside it, a version could be left without its alias
    with tracking_write(), tempfile.TemporaryDirectory() as scratch:
        package = bundle.copy_package(root, shipped, Path(scratch))
        with mlflow.start_run(run_id=record["run_id"]):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PipelineModel(),
                artifacts={"checkpoint": str(paths.checkpoint(spec.name))},
                code_paths=[str(package)],
                signature=signature,
                input_example=example,
                model_config=config,
                pip_requirements=_requirements(),
            )
            mlflow.set_tags({"gate_passed": str(verdict.passed), "gate_reason": reason})
        version = mlflow.register_model(info.model_uri, spec.registered_name, tags=tags)
        client.update_model_version(spec.registered_name, version.version, description=reason)
        client.set_registered_model_alias(spec.registered_name, alias, version.version)
    return {"version": int(version.version), "aliases": [alias], "reason": reason, "new": True}


def register_all(params: dict, names: list[str] | None = None) -> dict:
    """Register the models named (every model in params when none is), holding a lock so that
    concurrent `register` runs (parallel `dvc exp run`s) read the champion and move aliases one at a time."""
    import fcntl

    from .tracking import project_root

    names = list(params["train"]) if not names else names
    for name in names:
        if name not in params["train"]:
            raise ParamsError("model", f"{name!r} has no block under train: in params.yaml; models there: "
                                       f"{', '.join(params['train'])}")
    specs = [get_model(name, f"train.{name}") for name in names]
    with open(project_root() / ".register.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {spec.name: register_model(spec, params) for spec in specs}


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.register", __doc__)
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="models to register (keys under train: in params.yaml); default: every one")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    pin_cpu_threads(params["cpu_threads"])
    report = register_all(params, args.models)
    if args.models:  # the report keeps the other models' entries from the last full run
        previous = paths.registry_report()
        report = {**(json.loads(previous.read_text()) if previous.is_file() else {}), **report}
    write_json(paths.registry_report(), report)
    for name, entry in report.items():
        state = "new version" if entry["new"] else "unchanged"
        print(f"register {name}: v{entry['version']} {','.join(entry['aliases']) or '-'} ({state}): {entry['reason']}")


if __name__ == "__main__":
    main()
