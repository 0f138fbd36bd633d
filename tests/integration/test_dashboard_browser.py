"""A real browser: JupyterLab + Debian's Chromium (headless, via Playwright) run lesson 01, press
the dashboard's crash button of the VIP owner, and see the dashboard name a new owner.

Playwright drives the system browser at CHROMIUM; it never downloads one (no `playwright install`).
Set LABKIT_UPDATE_SCREENSHOT=1 to also refresh the README's docs/dashboard.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.lab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter(lab, tmp_path):
    """JupyterLab on its own loopback port with a token, its kernels aimed at the session's lab."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs it (system-packages.txt)")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "LABKIT_HOME": str(lab.layout.rundir.parent),
           "LABKIT_LAB": lab.layout.lab, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # draw every cell (no virtual scrolling), so the lesson's last output and the dashboard exist
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)  # saving the run must not touch the repository
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--notebook-dir={work}",
           "--ServerApp.port_retries=0", "--LabApp.news_url=",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}", "--allow-root"]
    log = open(tmp_path / "jupyter.log", "w")  # noqa: SIM115 - closed in the teardown
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyter.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_crash_button_moves_the_vip_owner_on_the_dashboard(lab, jupyter, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    url, token = jupyter
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/01_vip_failover.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", when it asks
        with contextlib.suppress(PlaywrightTimeout):
            accept.wait_for(timeout=8_000)
            accept.click()
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        # the lesson ends by checking itself; its last check prints a ✔ line
        try:
            expect(page.locator(".jp-OutputArea-output", has_text="✔")).to_have_count(
                1, timeout=180_000)
        finally:
            page.screenshot(path=str(tmp_path / "after-run-all.png"), full_page=True)
        owner_line = page.locator(".labkit-vip-owner .labkit-owner").first
        # the lesson's own failover may have just moved the VIP: the dashboard, refreshing about
        # once a second, must come to name the owner `status` names
        owner = lab.status()["vip"]["owner"]
        expect(owner_line).to_have_text(owner, timeout=30_000)

        crash = page.locator(f".labkit-crash-{owner}").first
        crash.scroll_into_view_if_needed()
        crash.click()
        # between the crash and the backup's takeover the line honestly says "nobody": wait for
        # the other load balancer's name
        others = [n.name for n in lab.layout.topology.with_role("lb") if n.name != owner]
        expect(owner_line).to_have_text(re.compile("^(" + "|".join(others) + ")$"),
                                        timeout=60_000)
        new_owner = owner_line.inner_text().strip()
        assert new_owner not in ("", "nobody", owner)
        assert lab.status()["vip"]["owner"] == new_owner
        # the button's work ends when the fault is recorded; leave only after that
        expect(page.locator(".labkit-message").first).to_contain_text("done", timeout=30_000)
        assert lab.backend.node_state(owner) == "crashed"
        time.sleep(2)  # let the requests chart show the failover before the picture
        dashboard = page.locator(".labkit-dashboard").first
        dashboard.screenshot(path=str(tmp_path / "dashboard.png"))
        if os.environ.get("LABKIT_UPDATE_SCREENSHOT"):
            (ROOT / "docs").mkdir(exist_ok=True)
            shutil.copy(tmp_path / "dashboard.png", ROOT / "docs" / "dashboard.png")
        browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
