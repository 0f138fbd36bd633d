"""A real browser: JupyterLab + Debian's Chromium (headless, via Playwright) walk lessons 01, 02
and 03 as a learner does: cells one by one, a wrong answer to the exercise (its hint) and then the
right one, a prediction clicked and committed before the experiment and revealed after it; in 01
the dashboard's crash button on the VIP's owner makes the dashboard name a new owner.

Playwright drives the system browser at CHROMIUM; it never downloads one (no `playwright install`).
Set LABKIT_UPDATE_SCREENSHOT=1 to also refresh docs/dashboard.png (the README's) and
docs/lesson-01.png … lesson-03.png; otherwise the pictures stay in the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import json
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


def _notebook_cells(stem: str) -> list[dict]:
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


class Lesson:
    """One lesson open in JupyterLab, walked cell by cell as a learner does (Shift+Enter)."""

    def __init__(self, page, stem: str) -> None:
        self.page, self.stem = page, stem
        self.sources = [_source(c) if c["cell_type"] == "code" else None
                        for c in _notebook_cells(stem)]
        self.cells = page.locator(".jp-Notebook .jp-Cell")

    def find(self, text: str) -> int:
        """The index of the first code cell whose source holds `text`."""
        return next(i for i, s in enumerate(self.sources) if s is not None and text in s)

    def run(self, i: int, timeout: float = 150_000) -> None:
        """Select cell `i`, press Shift+Enter, wait for its new execution count; no traceback."""
        from playwright.sync_api import expect

        cell = self.cells.nth(i)
        prompt = cell.locator(".jp-InputPrompt").first
        cell.scroll_into_view_if_needed()
        before = prompt.inner_text().strip()
        prompt.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Shift+Enter")
        expect(prompt).not_to_have_text(before, timeout=30_000)
        expect(prompt).to_have_text(re.compile(r"^\[\d+\]:?$"), timeout=timeout)
        errors = cell.locator(".jp-OutputArea-output", has_text="Traceback")
        if errors.count():
            pytest.fail(f"{self.stem} cell {i} failed:\n{errors.first.inner_text()[-3000:]}")

    def run_through(self, last: int, start: int = 0) -> None:
        """Run every code cell from `start` to `last`, one by one."""
        for i in range(start, last + 1):
            if self.sources[i] is not None:
                self.run(i)

    def answer(self, i: int, placeholder: str, answer: str, expect_text: str) -> None:
        """Replace the exercise's placeholder line with `answer`, run it, see `expect_text`."""
        from playwright.sync_api import expect

        source = self.sources[i]
        assert source is not None and placeholder in source, (self.stem, i, placeholder)
        cell = self.cells.nth(i)
        editor = cell.locator(".cm-content").first
        editor.scroll_into_view_if_needed()
        editor.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(source.replace(placeholder, answer))
        expect(editor).to_contain_text(answer, timeout=10_000)
        self.run(i)
        expect(cell.locator(".jp-OutputArea-output").last).to_contain_text(expect_text,
                                                                         timeout=10_000)

    def predict(self, i: int, choices: list[str]) -> None:
        """Run the prediction cell, click one option of each widget in it, commit each."""
        from playwright.sync_api import expect

        self.run(i)
        cell = self.cells.nth(i)
        for n, choice in enumerate(choices):
            widget = cell.locator(".jp-OutputArea-output").nth(n)
            widget.locator(".widget-radio-box label", has_text=choice).first.click()
            widget.get_by_role("button", name="commit my prediction").click()
            expect(widget).to_contain_text(f"committed: {choice}", timeout=10_000)

    def revealed(self, i: int, choices: list[str]) -> None:
        """After the experiment's reveal the prediction widgets say how the prediction went."""
        from playwright.sync_api import expect

        cell = self.cells.nth(i)
        for n, choice in enumerate(choices):
            widget = cell.locator(".jp-OutputArea-output").nth(n)
            expect(widget).to_contain_text(f"You predicted {choice}", timeout=10_000)

    def screenshot(self, i: int, path: Path) -> None:
        """The viewport with cell `i` at its top (the exercise and prediction around it)."""
        cell = self.cells.nth(i)
        cell.evaluate("c => c.scrollIntoView({block: 'start'})")
        self.page.screenshot(path=str(path))


def _open(browser, url: str, token: str, stem: str):
    """A fresh page with only this lesson open (`reset`: no tabs restored from the last one)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{stem}.ipynb?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", when it asks
    with contextlib.suppress(PlaywrightTimeout):
        accept.wait_for(timeout=8_000)
        accept.click()
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=60_000)
    return Lesson(page, stem)


def _close(lesson: Lesson, url: str, token: str) -> None:
    """Close the page and shut its kernel down, so its dashboard's traffic stops before the
    next lesson counts requests."""
    lesson.page.close()
    headers = {"Authorization": f"token {token}"}
    for session in httpx.get(f"{url}/api/sessions", headers=headers, timeout=10).json():
        httpx.delete(f"{url}/api/sessions/{session['id']}", headers=headers,
                     timeout=30).raise_for_status()


def _lesson_01(browser, url, token, lab, shots: Path) -> None:
    from playwright.sync_api import expect

    from labkit.ui.lesson import make_whole, wait_until

    lesson = _open(browser, url, token, "01_vip_failover")
    page = lesson.page
    exercise, predict = lesson.find("master_down = None"), lesson.find("Prediction(")
    lesson.run_through(exercise - 1)
    vrrp = lab.layout.topology.vrrp
    backup = min(lab.layout.topology.with_role("lb"), key=lambda n: n.priority)
    advert = vrrp.advert_interval
    right = 3 * advert + (256 - backup.priority) * advert / 256
    lesson.answer(exercise, "master_down = None", f"master_down = {3 * advert!r}",
                  "master_down: not yet: close")
    lesson.answer(exercise, "master_down = None", f"master_down = {right!r}",
                  "✔ master_down: right")
    lesson.predict(predict, ["3–10 s"])
    reveal = lesson.find("gap_prediction.reveal(")
    lesson.run_through(reveal, start=predict + 1)
    lesson.revealed(predict, ["3–10 s"])
    lesson.run_through(len(lesson.sources) - 1, start=reveal + 1)
    expect(lesson.cells.nth(lesson.find('print(f"✔ {before} crashed')).locator(
        ".jp-OutputArea-output")).to_contain_text("✔")
    lesson.screenshot(exercise, shots / "lesson-01.png")

    # Your turn: the dashboard's crash button on the VIP's owner
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
    expect(owner_line).to_have_text(re.compile("^(" + "|".join(others) + ")$"), timeout=60_000)
    new_owner = owner_line.inner_text().strip()
    assert new_owner not in ("", "nobody", owner)
    assert lab.status()["vip"]["owner"] == new_owner
    # the button's work ends when the fault is recorded; leave only after that
    expect(page.locator(".labkit-message").first).to_contain_text("done", timeout=30_000)
    assert lab.backend.node_state(owner) == "crashed"
    # the docked panel takes half the window: a tall, wide one shows every panel of it at once
    page.set_viewport_size({"width": 2000, "height": 2300})
    time.sleep(3)  # let the charts redraw at the new size and show the failover
    page.locator(".labkit-dashboard").first.screenshot(path=str(shots / "dashboard.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.locator(f".labkit-recover-{owner}").first.click()
    expect(page.locator(".labkit-message").first).to_contain_text(
        f"recover {owner}: done", timeout=180_000)  # a loaded machine restarts Cassandra slowly
    wait_until(lambda: lab.backend.node_state(owner) == "up", timeout=90)
    _close(lesson, url, token)
    make_whole(lab)


def _lesson_02(browser, url, token, lab, shots: Path) -> None:
    from labkit.ui.lesson import apache_seconds, make_whole, member_settings

    lesson = _open(browser, url, token, "02_round_robin")
    shares, wait, out = (lesson.find("shares = None"), lesson.find("frozen_wait = None"),
                         lesson.find("taken_out = None"))
    lesson.run_through(shares - 1)
    apps = len(lab.layout.topology.with_role("app"))
    s = member_settings(lab)
    timeout = apache_seconds(s["timeout"])
    lesson.answer(shares, "shares = None", f"shares = {30 / apps!r}",
                  "shares: not yet: that shares them among every member")
    lesson.answer(shares, "shares = None", f"shares = {30 / (apps - 1)!r}", "✔ shares: right")
    lesson.answer(wait, "frozen_wait = None", f"frozen_wait = {timeout!r}",
                  "✔ frozen_wait: right")
    worst = int(s.get("hcfails", "1")) * (apache_seconds(s["hcinterval"]) + timeout)
    lesson.answer(out, "taken_out = None", f"taken_out = {worst!r}", "✔ taken_out: right")
    predict, reveal = lesson.find("Prediction("), lesson.find("freeze_prediction.reveal(")
    choice = ["a few requests wait for Apache's timeout, then fail (502)"]
    lesson.predict(predict, choice)
    lesson.run_through(reveal, start=predict + 1)
    lesson.revealed(predict, choice)
    check = lesson.find('print(f"✔ {dict(fair)}')
    lesson.run_through(check, start=reveal + 1)
    lesson.screenshot(shares, shots / "lesson-02.png")
    _close(lesson, url, token)
    make_whole(lab)


def _lesson_03(browser, url, token, lab, shots: Path) -> None:
    from labkit.ui.lesson import make_whole

    lesson = _open(browser, url, token, "03_sticky_sessions")
    exercise = lesson.find("def route_of(cookie):")
    placeholder = "def route_of(cookie):\n    return None   # your few lines here"
    lesson.run_through(exercise - 1)
    lesson.answer(exercise, placeholder, 'def route_of(cookie): return cookie.split(".")[0]',
                  "route_of: not yet: that is the session id")
    lesson.answer(exercise, placeholder, 'def route_of(cookie): return cookie.split(".")[-1] '
                  'if "." in cookie else None', "✔ route_of: right")
    predict = lesson.find("Prediction(")
    lesson.run_through(predict - 1, start=exercise + 1)
    mysql = bool(lab.layout.topology.with_role("mysql"))
    choices = (["an answer from another app server, still logged in",
                "back to the server the cookie names"] if mysql else
               ["401: the session is gone, log in again",
                "nowhere: the session is gone, you log in again"])
    lesson.predict(predict, choices)
    last = lesson.find('print(f"✔ pinned to')
    lesson.run_through(last, start=predict + 1)
    lesson.revealed(predict, choices)
    lesson.screenshot(exercise, shots / "lesson-03.png")
    _close(lesson, url, token)
    make_whole(lab)


WALKS = (_lesson_01, _lesson_02, _lesson_03)


def test_learner_walks_lessons_01_to_03(lab, jupyter, tmp_path):
    """01, 02 and 03 as a learner goes: cells one by one, a wrong answer (its hint) then the
    right one, a prediction clicked and committed before the experiment and revealed after it,
    and in 01 the dashboard's crash button on the VIP's owner."""
    from playwright.sync_api import sync_playwright

    url, token = jupyter
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for walk in WALKS:
                walk(browser, url, token, lab, shots)
        except Exception:
            for n, page in enumerate(p for c in browser.contexts for p in c.pages):
                page.screenshot(path=str(tmp_path / f"failed-{n}.png"), full_page=True)
            raise
        finally:
            browser.close()
    names = ["dashboard.png"] + [f"lesson-{w.__name__[-2:]}.png" for w in WALKS]
    for name in names:
        assert (shots / name).stat().st_size > 10_000, name
    if os.environ.get("LABKIT_UPDATE_SCREENSHOT"):
        (ROOT / "docs").mkdir(exist_ok=True)
        for name in names:
            shutil.copy(shots / name, ROOT / "docs" / name)
