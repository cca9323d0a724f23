"""Plot data for DVC (CSV tables, PNG figures), written atomically."""
from __future__ import annotations

import csv
from pathlib import Path

from .io import atomic_path


def write_table(path: str | Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_figure(path: str | Path, figure) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
