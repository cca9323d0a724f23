"""What users see, in a real browser: benchmarks/screenshots.py against the e2e project's
MLflow store and plots (headless Debian Chromium, network blocked). Each PNG must show
content, judged by its pixels: a blank page or a lone spinner has ~no variance."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
PAGES = ["experiments", "runs", "compare", "plots"]
# measured on the e2e store: std 16..25 grey levels, 2..4.5 % of pixels off the background;
# an empty page: 0 and 0 %
MIN_STD = 8.0
MIN_CONTENT = 0.01


def pixels(path: Path) -> tuple[float, float]:
    """(grey-level standard deviation, fraction of pixels > 24 levels off the commonest grey)."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.int16)
    background = np.bincount(grey.ravel(), minlength=256).argmax()
    return float(grey.std()), float((np.abs(grey - background) > 24).mean())


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run "
                                             "installs it as root)")
def test_mlflow_ui_and_offline_plots_render_in_a_browser(project, env, tmp_path):
    out = tmp_path / "screenshots"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "screenshots.py"), "--project", str(project),
                             "--out", str(out), "--chromium", CHROMIUM], cwd=project, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads((out / "screenshots.json").read_text())
    assert set(report["pages"]) == set(PAGES)
    for name in PAGES:
        page = report["pages"][name]
        assert page["ready"], f"{name}: the page never showed its content"
        std, content = pixels(out / f"{name}.png")
        assert std > MIN_STD and content > MIN_CONTENT, f"{name}.png looks blank: std {std:.1f}, content {content:.2%}"
    # one pipeline run: one run per model, in one view
    assert len(report["compare"]["run_ids"]) >= 2
    # the plots page came from file:// only: vega, vega-lite and vega-embed are inlined
    assert report["pages"]["plots"]["url"].startswith("file://")
    assert report["pages"]["plots"]["blocked_requests"] == []
    assert all(page["blocked_requests"] == [] for page in report["pages"].values())
