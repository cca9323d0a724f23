"""Stage `train@<model>`: train one model from params.yaml with the shared training loop.

Writes the checkpoint, per-epoch losses (DVC plots), train metrics, and logs all of it to
a new MLflow run in the model's experiment; the run id is kept for evaluate/register.

`PIPELINE_NPROC=N` trains with N processes (torchrun + DistributedDataParallel; gloo on
CPU, nccl on GPU); only rank 0 logs to MLflow and writes outputs.
"""
from __future__ import annotations

import json
import os
import sys

from . import paths
from .cli import main_wrapper, pin_cpu_threads, stage_parser, tracking_write
from .config import dataset_key, load_params, model_params
from .io import write_json
from .registry import ModelSpec, get_model

TIMINGS = ("train_seconds", "samples_per_s", "data_loading_share")  # the train metrics that vary run to run


def _init_distributed() -> int:
    """Join torchrun's process group when launched by it; returns this process's rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank()


def prepare_and_build(spec: ModelSpec, params: dict, data_dir):
    """(prepared data, untrained model) of `spec`, after seeding every generator."""
    from .training import seed_everything

    block = model_params(params, spec.name)
    seed_everything(params["seed"])
    prepared = spec.task.prepare(data_dir, block, dataset_key(block), params["seed"])
    return prepared, spec.build(block, prepared.meta)


def fit_model(spec: ModelSpec, params: dict, model, prepared, device, on_epoch=None, reports: bool = True):
    """The shared training loop with `spec`'s loss and params, in its task's `training_plan`; where
    this process `reports`, each epoch's row gets the task's `epoch_metrics` and goes to `on_epoch`."""
    from .training import LOSSES, EpochFigures, EpochLog, TrainConfig, fit, on_targets

    block = model_params(params, spec.name)
    config = TrainConfig.from_params(block, params["seed"])
    plan = spec.task.training_plan(spec, model, block, config, on_targets(LOSSES[spec.loss]()))
    callbacks = [*([EpochFigures(lambda m: spec.task.epoch_metrics(m, prepared))] if reports else []),
                 *([EpochLog(on_epoch)] if on_epoch else [])]
    return fit(model, prepared.train, prepared.val, plan, config, callbacks, device)


def train(spec: ModelSpec, params: dict) -> dict | None:
    """Returns the train metrics on rank 0, None on other ranks."""
    from . import tracking
    from .io import file_digest
    from .plots import write_table
    from .tasks import save_checkpoint
    from .training import count_parameters, select_device

    rank = _init_distributed()
    block = model_params(params, spec.name)
    data_dir = paths.dataset_dir(spec.dataset)
    prepared, model = prepare_and_build(spec, params, data_dir)
    device = select_device()
    if rank > 0:  # rank 0 alone reports the task's per-epoch metrics
        fit_model(spec, params, model, prepared, device, reports=False)
        return None

    mlflow = tracking.mlflow()
    experiment_id = tracking.ensure_experiment(spec.name, spec.description)
    run_name, tags = tracking.run_identity(spec.name, block, params)
    summary = json.loads((data_dir / "summary.json").read_text())
    tags["dataset_digest"] = ",".join(f"{k}:{v}" for k, v in sorted(summary.get("files", {}).items()))
    tags["device"] = str(device)
    tags["processes"] = os.environ.get("WORLD_SIZE", "1")
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params({**tracking.flatten(block), "seed": params["seed"]})
        tracking.log_dataset(data_dir, summary)

        def log_epoch(row: dict) -> None:
            with tracking_write():  # SIGTERM waits for the write: cut halfway, it would keep the store locked
                mlflow.log_metrics({k: v for k, v in row.items() if k not in ("epoch", "seconds")}, step=row["epoch"])

        result = fit_model(spec, params, model, prepared, device, on_epoch=log_epoch)
        metrics = {
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "epochs_run": len(result.history),
            "n_parameters": count_parameters(model),
            "train_seconds": round(result.seconds, 2),
            "samples_per_s": round(result.samples_per_s, 1),
            "data_loading_share": round(result.data_loading_share, 4),
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
    argv = sys.argv[1:] if argv is None else argv
    parser = stage_parser("pipeline.train", __doc__)
    parser.add_argument("model", help="a key under `train:` in params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    spec = get_model(args.model, "model")
    nproc = int(os.environ.get("PIPELINE_NPROC", "1"))
    if nproc > 1 and "LOCAL_RANK" not in os.environ:
        sys.stdout.flush()
        os.execvp("torchrun", ["torchrun", "--standalone", f"--nproc-per-node={nproc}", "-m", "pipeline.train", *argv])
    pin_cpu_threads(params["cpu_threads"])  # in each torchrun process
    metrics = train(spec, params)
    if metrics is not None:
        print(f"train {args.model}: {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
