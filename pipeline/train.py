"""Stage `train@<model>`: train one model from params.yaml with the shared training loop.

Writes the checkpoint, per-epoch losses (DVC plots), train metrics, and logs all of it to
a new MLflow run in the model's experiment; the run id is kept for evaluate/register.
"""
from __future__ import annotations

import argparse
import json

from . import paths
from .cli import main_wrapper
from .config import load_params, model_params
from .io import write_json
from .models import ModelSpec, get_model


def train(spec: ModelSpec, params: dict) -> dict:
    from . import tracking
    from .io import file_digest
    from .plots import write_table
    from .tasks import build_model, save_checkpoint
    from .training import LOSSES, TrainConfig, count_parameters, fit, seed_everything, select_device

    block = model_params(params, spec.name)
    seed_everything(params["seed"])
    data_dir = paths.dataset_dir(spec.dataset)
    prepared = spec.task().prepare(data_dir, block, f"train.{spec.name}", params["seed"])
    model = build_model(spec, block, prepared.meta)

    mlflow = tracking.mlflow()
    experiment_id = tracking.ensure_experiment(spec.name, spec.description)
    run_name, tags = tracking.run_identity(spec.name, block)
    summary = json.loads((data_dir / "summary.json").read_text())
    tags["dataset_digest"] = ",".join(f"{k}:{v}" for k, v in sorted(summary.get("files", {}).items()))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params({**tracking.flatten(block), "seed": params["seed"]})
        device = select_device()
        mlflow.set_tag("device", str(device))

        def log_epoch(row: dict) -> None:
            mlflow.log_metrics({"train_loss": row["train_loss"], "val_loss": row["val_loss"]}, step=row["epoch"])

        result = fit(model, prepared.train, prepared.val, LOSSES[spec.loss](),
                     TrainConfig.from_params(block, params["seed"]), on_epoch=log_epoch, device=device)
        metrics = {
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "epochs_run": len(result.history),
            "train_seconds": round(result.seconds, 2),
            "n_parameters": count_parameters(model),
        }
        mlflow.log_metrics({f"fit_{k}": float(v) for k, v in metrics.items()})
        meta = {**prepared.meta, "model": spec.name, "params": block}
        save_checkpoint(paths.checkpoint(spec.name), model.cpu(), meta)
        write_table(paths.loss_table(spec.name), result.history)
        mlflow.log_artifact(str(paths.loss_table(spec.name)), "plots")
        write_json(paths.run_record(spec.name), {"run_id": run.info.run_id, "experiment_id": experiment_id,
                                                  "checkpoint_md5": file_digest(paths.checkpoint(spec.name))})
        write_json(paths.train_metrics(spec.name), metrics)
    return metrics


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a key under `train:` in params.yaml")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    metrics = train(get_model(args.model, "model"), params)
    print(f"train {args.model}: {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
