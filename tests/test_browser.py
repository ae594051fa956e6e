"""A real browser: JupyterLab + headless Chromium (Playwright) runs notebook 21 and moves a slider.

Marker ``browser``. Skips when Chromium is missing, unless ``ECGKIT_REQUIRE_BROWSER=1`` (CI sets
it), in which case a missing browser is a failure. The screenshots go to ``runs/browser/``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ecgkit.contract import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("ECGKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
NOTEBOOK = "21_hyperparameter_explorer.ipynb"
SHOTS = PROJECT_ROOT / "runs" / "browser"


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed")
    if missing:
        reason = "browser test needs: " + "; ".join(missing)
        if os.environ.get("ECGKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (ECGKIT_REQUIRE_BROWSER=1)")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free localhost port, serving a smoke-parameterised copy of notebook 21."""
    _require_browser()
    import papermill

    from ecgkit.workbook.runner import notebook_parameters, run_parameters

    root = tmp_path_factory.mktemp("lab")
    run_dir = root / "run"
    values = run_parameters("smoke", run_dir)
    source = PROJECT_ROOT / "notebooks" / NOTEBOOK
    inject = {p.name: values[p.name] for p in notebook_parameters(source)}
    papermill.execute_notebook(str(source), str(root / NOTEBOOK), parameters=inject,
                               prepare_only=True, kernel_name="python3", progress_bar=False)
    settings = root / "settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # render every cell: with windowing, cells scrolled out of view leave the DOM
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    port, token = _free_port(), secrets.token_hex(16)
    log = (root / "lab.log").open("w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.port_retries=0", "--LabApp.news_url=",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(
        cmd,
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start; log:\n{(root / 'lab.log').read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield {"url": url, "token": token, "root": root, "run_dir": run_dir}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _plot_src(panel) -> str:
    return panel.locator("img").last.get_attribute("src") or ""


class TestNotebook21InBrowser:
    def test_widgets_render_and_respond(self, lab):
        from playwright.sync_api import expect, sync_playwright

        SHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
                page.locator(".jp-NotebookPanel").first.wait_for(timeout=90_000)
                kernel = page.locator(".jp-StatusBar-Widget", has_text="Python 3")
                expect(kernel).to_contain_text("Idle", timeout=120_000)  # ready before "Run All"
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

                panels = page.locator(".ecgkit-panel")
                expect(panels).to_have_count(4, timeout=240_000)
                for i in range(3):  # the three live plots have an image
                    expect(panels.nth(i).locator("img.ecgkit-plot")).to_have_count(1)
                # wait for the run-all to finish: the two button presses in the last cells
                expect(page.locator(".ecgkit-panel", has_text="done: #2")).to_have_count(
                    1, timeout=420_000)
                expect(kernel).to_contain_text("Idle", timeout=60_000)
                errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
                assert errors.count() == 0, errors.first.inner_text()

                focal = panels.filter(has_text="Focal loss")
                focal.scroll_into_view_if_needed()
                before = _plot_src(focal)
                assert before.startswith("blob:") or before.startswith("data:")
                page.screenshot(path=str(SHOTS / "21_before.png"), full_page=False)
                readout = focal.locator(".widget-readout").first  # gamma's editable value
                readout.click()
                page.keyboard.press("Control+A")
                page.keyboard.type("4.5")
                page.keyboard.press("Enter")
                expect(readout).to_have_text("4.50", timeout=30_000)
                page.wait_for_function(
                    "([sel, old]) => { const imgs = document.querySelectorAll(sel);"
                    " for (const p of imgs) { if (p.innerText.includes('Focal loss')) {"
                    " const i = p.querySelectorAll('img'); return i[i.length-1].src !== old; } }"
                    " return false; }", arg=[".ecgkit-panel", before], timeout=30_000)
                after = _plot_src(focal)
                assert after and after != before, "moving gamma did not redraw the focal-loss plot"
                focal.screenshot(path=str(SHOTS / "21_focal_after.png"))
                page.screenshot(path=str(SHOTS / "21_after.png"), full_page=False)
            finally:
                browser.close()
        # the batch-style button press inside the notebook recorded its figures
        figures = json.loads((lab["run_dir"] / "21_hyperparameter_explorer"
                              / "figures.json").read_text())
        assert figures["runs"] == 2 and figures["lr_peak"] > 0
