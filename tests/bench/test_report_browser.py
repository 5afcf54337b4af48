"""The HTML report in a real headless browser (Chromium from the system's packages, which
.ci/run installs): it renders, every image loads, the console shows no error, and the
screenshot is not blank."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread
from statebench.bench.report import build_report

BROWSER = next(
    (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
# Skipped on a machine without Chromium, never in CI, where a skip would hide a missing install.
pytestmark = pytest.mark.skipif(
    BROWSER is None and not os.environ.get("CI"),
    reason="no chromium binary (.ci/run installs Debian's chromium package)",
)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
FLAGS += ["--no-first-run", "--disable-extensions", "--virtual-time-budget=3000"]

# Runs first in <head>: records errors, then (after load) what every image did.
CHECKER = """<script>
window.__errors = [];
const __error = console.error.bind(console);
console.error = (...a) => { window.__errors.push(a.join(' ')); __error(...a); };
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target.src)),
                        true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images).map(i => ({
    alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
  const out = document.createElement('pre');
  out.id = 'statebench-check';
  out.textContent = JSON.stringify({errors: window.__errors, images: imgs,
                                    text: document.body.innerText.length});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BROWSER, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_html_report_renders_in_chromium(
    tmp_path, synthetic_results_factory, synthetic_probes_factory, synthetic_manifest
):
    assert BROWSER, "no chromium binary: .ci/run installs Debian's chromium package"
    small = {"archs": ("transformer", "lstm"), "tasks": ("parity", "flipflop")}
    results = synthetic_results_factory(**small, seeds=(0, 1))
    probes = synthetic_probes_factory(**small, seeds=(0, 1))
    page = build_report(results, probes, synthetic_manifest, tmp_path, "html")
    html = page.read_text()
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + CHECKER, 1))

    dom = chromium("--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="statebench-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"the page did not finish loading:\n{dom.stderr[-3000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["errors"] == [], check["errors"]
    assert check["text"] > 500, "the page rendered almost no text"
    n_figures = html.count("<img ")
    assert n_figures >= 3 and len(check["images"]) == n_figures
    broken = [i for i in check["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"

    shot = tmp_path / "shot.png"
    result = chromium("--window-size=1280,2400", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), result.stderr[-3000:]
    pixels = imread(shot)[..., :3]
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert len(np.unique(pixels.reshape(-1, 3).round(2), axis=0)) > 50  # text and figures
