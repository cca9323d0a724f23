"""Plot data for DVC (CSV tables, PNG figures), written atomically."""
from __future__ import annotations

import csv
from pathlib import Path

from .io import atomic_path


def write_table(path: str | Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        # every column of any row (the refine epochs of a training history add some), blank where absent
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: str | Path) -> list[dict]:
    """A table write_table wrote: numbers come back as floats (exactly: csv writes a float's repr), other
    cells as text, and blank cells are left out."""
    def cell(text: str):
        try:
            return float(text)
        except ValueError:
            return text

    with open(path, newline="") as fh:
        return [{key: cell(value) for key, value in row.items() if value != ""} for row in csv.DictReader(fh)]


def pyplot():
    """matplotlib's pyplot on the Agg backend (figures to files, no display needed); imported when a
    figure is drawn, so that stages which draw none never load matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_figure(path: str | Path, figure) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def write_figures(directory: str | Path, figures: dict) -> None:
    """name -> matplotlib Figure, as DIRECTORY/<name>.png: the directory replaced whole, atomically (a
    stage's figures folder holds this run's figures, none of an earlier one's); every figure closed."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(directory) as tmp:
            tmp.mkdir()
            for name, figure in figures.items():
                figure.savefig(tmp / f"{name}.png", format="png", dpi=100)
    finally:
        for figure in figures.values():
            plt.close(figure)


# --- offline `dvc plots show` --------------------------------------------------------------
# DVC's page loads vega, vega-lite and vega-embed from a CDN and is blank offline. Our
# template (.dvc/config: plots.html_template) inlines them instead; `make plots-template`
# rebuilds it from the npm packages, whose licences are kept beside it.
VEGA_PACKAGES = {"vega": "5.20.2", "vega-lite": "5.2.0", "vega-embed": "6.18.2"}  # the versions DVC asks for
TEMPLATE_DIR = Path(".dvc/plots")


def offline_template(scripts: dict[str, str]) -> str:
    """An HTML page for DVC with the given JavaScript sources inlined, in order."""
    inlined = "\n".join(f"<script>/* {name} (licence: vendor/LICENSE-{name}) */\n{code}\n</script>"
                        for name, code in scripts.items())
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<meta charset=\"utf-8\">\n<title>DVC plots</title>\n"
        f"{inlined}\n<style>table {{ border-spacing: 15px; }}</style>\n</head>\n<body>\n{{plot_divs}}\n</body>\n</html>\n"
    )


def build_offline_template(unpacked: Path) -> None:
    """From `npm pack`ed and unpacked packages in <unpacked>/<name>-<version>/package/."""
    scripts, licences = {}, {}
    for name, version in VEGA_PACKAGES.items():
        package = unpacked / f"{name}-{version}" / "package"
        scripts[name] = (package / "build" / f"{name}.min.js").read_text()
        licences[name] = (package / "LICENSE").read_text()
    for name, text in licences.items():
        with atomic_path(TEMPLATE_DIR / "vendor" / f"LICENSE-{name}") as tmp:
            tmp.write_text(text)
    with atomic_path(TEMPLATE_DIR / "offline.html") as tmp:
        tmp.write_text(offline_template(scripts))


if __name__ == "__main__":
    import sys

    build_offline_template(Path(sys.argv[1]))
