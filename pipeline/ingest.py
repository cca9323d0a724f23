"""Stage `ingest_<dataset>`: parse and validate one raw data set into data/processed/<dataset>/.

Writes arrays (npz) and summary.json (rows, ranges, digests). A bad file stops the stage
with one line naming the file, the place and the problem; nothing is written then.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path


from . import paths
from .cli import main_wrapper, stage_parser
from .config import load_params
from .io import atomic_path, file_digest, write_npz


def _ingest_stock(cfg: dict) -> tuple[dict, dict, list[Path]]:
    from .data import stock

    prices = stock.read_stock_csv(cfg["file"])
    return {"prices": {"dates": prices.dates, "prices": prices.prices}}, stock.summarize(prices), [Path(cfg["file"])]


def _ingest_lotto(cfg: dict) -> tuple[dict, dict, list[Path]]:
    from .data import lotto

    draws = lotto.read_lotto_xlsx(cfg["file"])
    return {"draws": dataclasses.asdict(draws)}, lotto.summarize(draws), [Path(cfg["file"])]


def _ingest_mnist(cfg: dict) -> tuple[dict, dict, list[Path]]:
    from .data import mnist

    data = mnist.load_mnist(cfg["dir"], verify_md5=cfg["verify_md5"])
    sources = sorted(Path(cfg["dir"]).glob("*-ubyte.gz"))
    return {"mnist": dataclasses.asdict(data)}, mnist.summarize(data), sources


INGESTERS = {"stock": _ingest_stock, "lotto": _ingest_lotto, "mnist": _ingest_mnist}


def ingest(dataset: str, params: dict, out_dir: Path) -> dict:
    """Parse `dataset` as configured in params and write it; returns the summary."""
    arrays, summary, sources = INGESTERS[dataset](params["ingest"][dataset])
    summary["sources"] = {str(p): file_digest(p) for p in sources}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, content in arrays.items():
            write_npz(tmp / f"{name}.npz", **content)
            summary.setdefault("files", {})[f"{name}.npz"] = file_digest(tmp / f"{name}.npz")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.ingest", __doc__)
    parser.add_argument("dataset", choices=sorted(INGESTERS))
    args = parser.parse_args(argv)
    summary = ingest(args.dataset, load_params(args.params), paths.dataset_dir(args.dataset))
    shown = {k: v for k, v in summary.items() if k not in ("sources", "files")}
    print(f"ingest {args.dataset}: {json.dumps(shown, sort_keys=True)}")


if __name__ == "__main__":
    main()
