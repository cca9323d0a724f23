"""Screenshots of what users see, taken in a real browser (headless Debian Chromium):

- experiments.png  the MLflow UI's experiments list (one experiment per model, with descriptions)
- runs.png         one model's runs (names: model · DVC experiment or params digest · date)
- compare.png      the MLflow compare view: the latest runs of the model with the most runs
                   (a sweep), or, when every model has one run, the runs of one pipeline run
- plots.png        `dvc plots show` rendered from the offline template, network blocked

    python benchmarks/screenshots.py [--project DIR] [--tracking-uri URI] [--out DIR] [--model NAME]

Starts `mlflow ui` on a free 127.0.0.1 port against the store (default: the project's
`mlflow.db`, or MLFLOW_TRACKING_URI), drives Chromium over the DevTools protocol (a pipe, no
extra packages) and waits until each page shows its real content (experiment and run names,
metric names, every chart drawn and image loaded), not a spinner, before capturing it. The
browser goes through a dead proxy, so only loopback and file:// load; any request a page
tries outside them is reported. Writes the PNGs and `screenshots.json` (URLs, runs compared,
pixel statistics, requests blocked) to --out (default: reports/screenshots/, git-ignored).
Exit code 1 if a page never showed its content (its screenshot is still written, for a look).
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from pipeline.io import write_text  # noqa: E402
from pipeline.serve import free_ports  # noqa: E402

CHROMIUM_CANDIDATES = ["chromium", "chromium-browser", "google-chrome"]
WINDOW = (1440, 900)
PAGE_TIMEOUT_S = 60
COMPARE_LIMIT = 6

# Before the MLflow app starts: the classic ML view (not GenAI) and the assistant panel closed,
# i.e. what a returning user sees instead of the first-visit layout (keys from the UI bundle:
# `${key}_v${version}` holding JSON).
MLFLOW_LOCAL_STORAGE = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.panelOpen_v1": False,
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
}


# --- the browser, driven over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON) ----

class Browser:
    def __init__(self, chromium: str, window: tuple[int, int] = WINDOW):
        self.profile = tempfile.mkdtemp(prefix="screenshots-chromium-")
        to_browser_r, self._to_browser = _high_pipe()
        self._from_browser, from_browser_w = _high_pipe()
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
            f"--user-data-dir={self.profile}", f"--window-size={window[0]},{window[1]}",
            # the network is off: everything but loopback goes to a port nobody listens on
            "--proxy-server=127.0.0.1:9", "--remote-debugging-pipe", "about:blank",
        ]
        shell = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        self.proc = subprocess.Popen(["/bin/bash", "-c", shell, chromium, *args],
                                     pass_fds=(to_browser_r, from_browser_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._closed = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.send("Browser.getVersion", timeout=30)
        except RuntimeError:
            self.close()
            raise

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        with self._cond:
            self._next_id += 1
            call_id = self._next_id
        message = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while call_id not in self._replies:
                if self._closed or not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"chromium did not answer {method} within {timeout} s")
            reply = self._replies.pop(call_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
            self.proc.wait(timeout=10)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def shoot(self, url: str, path: Path, ready_js: str, local_storage: dict | None = None,
              size: tuple[int, int] = WINDOW, max_height: int = 2400) -> dict:
        """Open url in a fresh tab, wait until `ready_js` is true, grow the viewport to the
        content (whichever element scrolls, up to max_height) and capture a PNG to path."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            for domain in ("Page", "Runtime", "Network"):
                self.send(f"{domain}.enable", session=session)
            self._viewport(session, *size)
            if local_storage:
                setup = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});"
                                for k, v in local_storage.items())
                self.send("Page.addScriptToEvaluateOnNewDocument", {"source": f"try {{ {setup} }} catch (e) {{}}"},
                          session)
            first_event = len(self.events)
            started = time.monotonic()
            self.send("Page.navigate", {"url": url}, session)
            ready = self._wait(session, ready_js, started + PAGE_TIMEOUT_S)
            waited = round(time.monotonic() - started, 1) if ready else None
            height = min(max_height, size[1] + int(self._eval(session, OVERFLOW_JS) or 0))
            if height > size[1]:
                self._viewport(session, size[0], height)
                time.sleep(0.5)
                ready = self._wait(session, ready_js, time.monotonic() + 20) and ready
            time.sleep(1.0)  # let transitions and the last layout settle
            shot = self.send("Page.captureScreenshot", {"format": "png"}, session, timeout=60)
            path.write_bytes(base64.b64decode(shot["data"]))
            with self._cond:
                events = [e for e in self.events[first_event:] if e.get("sessionId") == session]
            requested = [e["params"]["request"]["url"] for e in events
                         if e.get("method") == "Network.requestWillBeSent"]
            blocked = sorted({u for u in requested if not _local(u)})
            return {"url": url, "ready": ready, "seconds_to_content": waited, "requests": len(requested),
                    "blocked_requests": blocked}
        finally:
            self.send("Target.closeTarget", {"targetId": target})

    def _viewport(self, session: str, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": False}, session)

    def _eval(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result.get("result", {}).get("value")

    def _wait(self, session: str, ready_js: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._eval(session, ready_js) is True:
                return True
            time.sleep(0.5)
        return False


# how much taller than the viewport the content is: the document, or the element that scrolls
OVERFLOW_JS = """(() => {
  let extra = document.documentElement.scrollHeight - window.innerHeight;
  for (const e of document.querySelectorAll('*')) {
    if (/(auto|scroll)/.test(getComputedStyle(e).overflowY) && e.scrollHeight > e.clientHeight + 1)
      extra = Math.max(extra, e.scrollHeight - e.clientHeight);
  }
  return Math.max(0, extra);
})()"""


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are >= 10, so bash can move them to 3 and 4 without clashes."""
    r, w = os.pipe()
    high = fcntl.fcntl(r, fcntl.F_DUPFD, 10), fcntl.fcntl(w, fcntl.F_DUPFD, 10)
    os.close(r)
    os.close(w)
    return high


def _local(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    return parsed.scheme in ("file", "data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost", "::1")


def find_chromium(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


# --- the MLflow side ------------------------------------------------------------------------

def start_mlflow_ui(tracking_uri: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow ui` on a free loopback port, run from workdir (so it writes nothing elsewhere)."""
    (port,) = free_ports(1)
    mlflow_bin = shutil.which("mlflow", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # no background job runner (its 7 worker processes serve GenAI jobs, not these pages)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(workdir / "mlflow-ui.log", "w") as log:
        proc = subprocess.Popen([mlflow_bin, "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1"], cwd=workdir, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_for_ui(proc: subprocess.Popen, url: str, workdir: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (workdir / "mlflow-ui.log").read_text()[-2000:]
            raise RuntimeError(f"mlflow ui exited with {proc.returncode}: {log}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow ui did not answer {url}/health within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def pick_runs(tracking_uri: str, model: str | None = None, limit: int = COMPARE_LIMIT) -> dict:
    """Experiments with runs, and the runs worth comparing.

    With `model`, or when a model has several finished runs (a sweep), its latest `limit` runs;
    otherwise the runs of the latest pipeline run (one per model, tag `pipeline_run`).
    """
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    # pipeline runs only (tag pipeline_run): not e.g. a leave-kind-out benchmark's
    runs = {e.name: client.search_runs([e.experiment_id], "attributes.status = 'FINISHED' and tags.pipeline_run != ''",
                                       order_by=["attributes.start_time DESC"], max_results=limit)
            for e in experiments}
    by_name = {e.name: e for e in experiments}
    if model is None:
        several = [name for name, found in runs.items() if len(found) >= 2]
        model = max(several, key=lambda n: (len(runs[n]), runs[n][0].info.start_time), default=None)
    if model is not None:
        if model not in runs or not runs[model]:
            raise SystemExit(f"error: no finished runs of {model!r} in {tracking_uri}")
        chosen, how = runs[model], f"the latest {len(runs[model])} runs of {model}"
        experiment_ids = [by_name[model].experiment_id]
    else:
        latest = max((r for found in runs.values() for r in found), key=lambda r: r.info.start_time, default=None)
        if latest is None:
            raise SystemExit(f"error: no finished runs in {tracking_uri}")
        group = latest.data.tags.get("pipeline_run")
        chosen = [found[0] for found in runs.values() if found and found[0].data.tags.get("pipeline_run") == group]
        how = f"the {len(chosen)} runs of pipeline run {group} (one per model)"
        experiment_ids = sorted({r.info.experiment_id for r in chosen}, key=int)
        model = max(chosen, key=lambda r: r.info.start_time).data.tags.get("model") or chosen[0].info.experiment_id
    return {
        "experiments": [e.name for e in experiments],
        "runs_experiment": by_name.get(model, experiments[0]).experiment_id if experiments else None,
        "runs_names": [r.info.run_name for r in runs.get(model, [])],
        "compare": {"how": how, "experiment_ids": experiment_ids, "run_ids": [r.info.run_id for r in chosen],
                    "run_names": [r.info.run_name for r in chosen],
                    "metric": _first_metric(chosen)},
    }


def _first_metric(runs) -> str | None:
    """The compare view lists metrics by name in a scrolling box; the first one is always drawn
    (the page is ready when it is there)."""
    names = set().union(*(r.data.metrics for r in runs))
    return min(names) if names else None


def mlflow_ready(texts: list[str], selector: str | None = None) -> str:
    """JS: every text is on the page, no loading skeleton is left (and `selector` matches):
    the UI has shown its data, not a spinner."""
    extra = f" && document.querySelector({json.dumps(selector)}) !== null" if selector else ""
    return (f"(() => {{ const t = document.body ? document.body.innerText : ''; "
            f"return document.readyState === 'complete' && {json.dumps(texts)}.every(s => t.includes(s)) "
            f"&& document.querySelector('[class*=skeleton]') === null{extra}; }})()")


# every chart of the page drawn by vega-embed (it replaces the <script> in the chart's <div>
# with a `.vega-embed` canvas), every image loaded
PLOTS_READY = """(() => {
  const pending = [...document.querySelectorAll('body div[id] > script')].filter(s => s.text.includes('vegaEmbed'));
  const charts = [...document.querySelectorAll('.vega-embed')];
  const images = [...document.images];
  return document.readyState === 'complete' && pending.length === 0 && charts.length > 0
    && charts.every(c => c.querySelector('canvas, svg.marks')) && images.every(i => i.complete && i.naturalWidth > 0);
})()"""


def dvc_plots_html(project: Path, out: Path) -> Path:
    """`dvc plots show -o <out>` in the project (its .dvc/config names the offline template)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = shutil.which("dvc", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([dvc, "plots", "show", "-o", str(out)], cwd=project, env=env, capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"dvc plots show failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
    return out / "index.html"


# --- pixels ---------------------------------------------------------------------------------

def pixel_stats(path: Path) -> dict:
    """Grey-level standard deviation, and the fraction of pixels that differ from the
    background (the most common grey) by more than 24 levels: a blank page or a lone spinner
    scores ~0 on both."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(path).convert("L"), dtype=np.int16)
    background = int(np.bincount(grey.ravel(), minlength=256).argmax())
    return {"width": grey.shape[1], "height": grey.shape[0], "std": round(float(grey.std()), 2),
            "background": background,
            "content_fraction": round(float((np.abs(grey - background) > 24).mean()), 4)}


# --- main -----------------------------------------------------------------------------------

def take(project: Path, tracking_uri: str, out: Path, model: str | None = None, chromium: str | None = None,
         plots: bool = True) -> dict:
    chromium = find_chromium(chromium)
    if chromium is None:
        raise SystemExit("error: no chromium found (Debian: apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as scratch:
        scratch = Path(scratch)
        server, base = start_mlflow_ui(tracking_uri, scratch)  # starts while we pick the runs
        browser = None
        try:
            chosen = pick_runs(tracking_uri, model)
            report: dict = {"tracking_uri": tracking_uri, "compare": chosen["compare"], "pages": {}}
            wait_for_ui(server, base, scratch)
            browser = Browser(chromium)
            compare = chosen["compare"]
            query = urllib.parse.urlencode({"runs": json.dumps(compare["run_ids"]),
                                            "experiments": json.dumps(compare["experiment_ids"])})
            pages = [
                ("experiments", f"{base}/#/experiments", mlflow_ready(chosen["experiments"])),
                ("runs", f"{base}/#/experiments/{chosen['runs_experiment']}/runs",
                 mlflow_ready(chosen["runs_names"][:1])),
                ("compare", f"{base}/#/compare-runs?{query}",
                 mlflow_ready(compare["run_names"] + ([compare["metric"]] if compare["metric"] else []),
                              ".js-plotly-plot")),
            ]
            for name, url, ready in pages:
                report["pages"][name] = browser.shoot(url, out / f"{name}.png", ready,
                                                      local_storage=MLFLOW_LOCAL_STORAGE)
            if plots:
                html = dvc_plots_html(project, scratch / "dvc_plots")
                report["pages"]["plots"] = browser.shoot(html.as_uri(), out / "plots.png", PLOTS_READY,
                                                         size=(1280, 900))
        finally:
            if browser is not None:
                browser.close()
            stop(server)
    for name, page in report["pages"].items():
        page["file"] = str(out / f"{name}.png")
        page["pixels"] = pixel_stats(out / f"{name}.png")
    write_text(out / "screenshots.json", json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO,
                        help="the repository whose store and plots to show (default: this one)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, else the project's "
                                               "sqlite:///<project>/mlflow.db)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "screenshots", help="where the PNGs go")
    parser.add_argument("--model", help="compare the latest runs of this model (default: the model with the "
                                        "most runs, else one pipeline run across models)")
    parser.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    parser.add_argument("--no-plots", action="store_true", help="skip the dvc plots page")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    report = take(project, uri, args.out.resolve(), args.model, args.chromium, plots=not args.no_plots)
    print(f"compared: {report['compare']['how']}")
    for name, page in report["pages"].items():
        pixels = page["pixels"]
        state = f"content after {page['seconds_to_content']} s" if page["ready"] else "NO CONTENT (timed out)"
        print(f"{name:12s} {page['file']}  {pixels['width']}x{pixels['height']}  std {pixels['std']}  "
              f"content {pixels['content_fraction']:.1%}  {state}  "
              f"blocked requests: {len(page['blocked_requests'])}")
    return 0 if all(p["ready"] for p in report["pages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
