"""Stage `ingest_<dataset>`: parse and validate one raw data set into data/processed/<dataset>/.

Writes arrays (npz) and summary.json (rows, ranges, digests), and the data set's figures (stock: the
OHLC histograms) into plots/figures/ingest_<dataset>/, the stage's DVC plots. A bad file stops the
stage with one line naming the file, the place and the problem; nothing is written then. The figures
are drawn before anything is written, so a drawing that fails leaves nothing either.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from . import data_figures, paths
from .cli import main_wrapper, stage_parser
from .config import load_params
from .io import atomic_path, file_digest, write_npz
from .plots import write_figures


# An ingester: the data set's params -> (arrays by file, summary, source files, figures by name, each
# a function drawing it: drawn only where the caller asks for figures)
Ingested = tuple[dict, dict, list[Path], dict[str, Callable[[], Any]]]


def _ingest_stock(cfg: dict) -> Ingested:
    from .data import stock

    prices = stock.read_stock_csv(cfg["file"])
    figures = {"ohlc_histograms": lambda: data_figures.ohlc_histograms(prices)}
    return ({"prices": {"dates": prices.dates, "prices": prices.prices}}, stock.summarize(prices), [Path(cfg["file"])],
            figures)


def _ingest_lotto(cfg: dict) -> Ingested:
    from .data import lotto

    draws = lotto.read_lotto_xlsx(cfg["file"])
    return {"draws": dataclasses.asdict(draws)}, lotto.summarize(draws), [Path(cfg["file"])], {}


def _ingest_mnist(cfg: dict) -> Ingested:
    from .data import mnist

    data = mnist.load_mnist(cfg["dir"], verify_md5=cfg["verify_md5"])
    sources = sorted(Path(cfg["dir"]).glob("*-ubyte.gz"))
    return {"mnist": dataclasses.asdict(data)}, mnist.summarize(data), sources, {}


INGESTERS = {"stock": _ingest_stock, "lotto": _ingest_lotto, "mnist": _ingest_mnist}


def ingest(dataset: str, params: dict, out_dir: Path, figures_dir: Path | None = None) -> dict:
    """Parse `dataset` as configured in params and write it, and its figures into `figures_dir` (None:
    none); returns the summary."""
    arrays, summary, sources, figures = INGESTERS[dataset](params["ingest"][dataset])
    drawn = {name: draw() for name, draw in figures.items()} if figures_dir is not None else {}
    summary["sources"] = {str(p): file_digest(p) for p in sources}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name, content in arrays.items():
            write_npz(tmp / f"{name}.npz", **content)
            summary.setdefault("files", {})[f"{name}.npz"] = file_digest(tmp / f"{name}.npz")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if drawn:
        write_figures(figures_dir, drawn)
    return summary


@main_wrapper
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("pipeline.ingest", __doc__)
    parser.add_argument("dataset", choices=sorted(INGESTERS))
    args = parser.parse_args(argv)
    summary = ingest(args.dataset, load_params(args.params), paths.dataset_dir(args.dataset),
                     paths.stage_figures_dir(f"ingest_{args.dataset}"))
    shown = {k: v for k, v in summary.items() if k not in ("sources", "files")}
    print(f"ingest {args.dataset}: {json.dumps(shown, sort_keys=True)}")


if __name__ == "__main__":
    main()
