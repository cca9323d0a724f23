"""Stage `evaluate@<model>`: score the trained model on its test data next to its baseline.

Writes metrics/eval/<model>.json and plots/<model>/, and logs both to the training run.
"""
from __future__ import annotations

from . import paths
from .cli import main_wrapper, pin_cpu_threads, stage_parser, tracking_write
from .config import dataset_key, load_params, model_params
from .errors import PipelineError
from .io import write_json
from .registry import ModelSpec, get_model


def load_trained(spec: ModelSpec, params: dict):
    """The prepared data and the trained model, exactly as evaluate and register see them."""
    from .tasks import load_checkpoint

    block = model_params(params, spec.name)
    prepared = spec.task.prepare(paths.dataset_dir(spec.dataset), block, dataset_key(block), params["seed"])
    checkpoint = load_checkpoint(paths.checkpoint(spec.name))
    model = spec.build(checkpoint["meta"]["params"], checkpoint["meta"])
    model.load_state_dict(checkpoint["state_dict"])
    return prepared, model.eval()


def check_layout(model: str, evaluation) -> None:
    """A metrics file a person can read: at most MAX_METRICS values, and a headline table for the summary."""
    from .tasks import MAX_METRICS

    if len(evaluation.metrics) > MAX_METRICS:
        raise PipelineError(f"evaluate {model}: {len(evaluation.metrics)} metrics, at most {MAX_METRICS}: "
                            "per-group figures belong in a table (Evaluation.tables), not the metrics")
    if not evaluation.tables.get("headline"):
        raise PipelineError(f"evaluate {model}: no headline table (tasks.headline_table) for the summary")


def evaluate(spec: ModelSpec, params: dict) -> dict:
    from . import tracking
    from .plots import write_figure, write_table

    run_id = tracking.recorded_run(spec.name)["run_id"]  # before any output is written
    prepared, model = load_trained(spec, params)
    evaluation = spec.task.evaluate(model, prepared, model_params(params, spec.name))
    check_layout(spec.name, evaluation)
    out_dir, figures_dir = paths.eval_plots_dir(spec.name), paths.eval_figures_dir(spec.name)
    for name, rows in evaluation.tables.items():
        write_table(out_dir / f"{name}.csv", rows)
    for name, figure in evaluation.figures.items():
        write_figure(figures_dir / f"{name}.png", figure)
    write_json(paths.eval_metrics(spec.name), evaluation.metrics)

    mlflow = tracking.mlflow()
    with tracking_write(), mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(evaluation.metrics)
        mlflow.set_tags(evaluation.notes)
        for name in evaluation.tables:
            mlflow.log_artifact(str(out_dir / f"{name}.csv"), "plots")
        for name in evaluation.figures:
            mlflow.log_artifact(str(figures_dir / f"{name}.png"), "plots")
    return {**evaluation.metrics, **evaluation.notes}


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.evaluate", __doc__)
    parser.add_argument("model", help="a key under `train:` in params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    pin_cpu_threads(params["cpu_threads"])
    result = evaluate(get_model(args.model, "model"), params)
    # the verdict, not every figure: they are in the metrics file, plots/<model>/ and MLflow
    print(f"evaluate {args.model}: {result['verdict']} ({sum(isinstance(v, float) for v in result.values())} "
          f"metrics in {paths.eval_metrics(args.model)})")


if __name__ == "__main__":
    main()
