"""Browser tests (issue 17): Playwright driving Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``
with apt when missing; Playwright never downloads a browser here) against a live federation of real processes —
a province, a city, a county and the county's extranet node, each a ``sunshine`` process with its own database,
enrolled in the federation's PKI, mutual TLS and signed batches on every link, as ``make demo`` runs them.

Screenshots of the main pages are written to ``build/screenshots/`` (``SUNSHINE_SCREENSHOTS`` names another
folder); the three best are copied by hand into ``docs/images/``.

Without Chromium the tests skip with the reason, except in CI (``CI=true``), where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from province_center.demo.launcher import Federation, NodeSpec

TOPOLOGY = (NodeSpec("370000", "山东省"), NodeSpec("371100", "日照市", "370000"), NodeSpec("371122", "莒县", "371100"))
PROVINCE, CITY, COUNTY = "370000", "371100", "371122"
EXTRANET = "371122-ext"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
# the county runs on the demo's simulated clock, fast enough that a 1-day case's light changes while a page is open
# (one simulated hour per second; the start is fixed, so nothing here depends on today's date)
SIMULATION = {
    "SUNSHINE_SIMULATION_ENABLED": "true",
    "SUNSHINE_SIMULATION_START": "2026-11-02T08:30:00+08:00",
    "SUNSHINE_SIMULATION_SPEED": "3600",
    "SUNSHINE_SUPERVISION_SWEEP_INTERVAL_S": "1",
}

T = TypeVar("T")


def chromium_path() -> str | None:
    return os.environ.get("SUNSHINE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{timeout:.0f} 秒内未等到：{what}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("SUNSHINE_SCREENSHOTS") or ROOT / "build" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # per module, not per session: Playwright's sync API keeps an event loop running in this process until it
    # stops, and a later test file on the same worker calling asyncio.run() would fail
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI 环境缺少 Chromium（.ci/run 应已用 apt 安装 chromium）")
        pytest.skip("没有 Chromium（apt install chromium），浏览器测试跳过")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    fed = Federation(tmp_path_factory.mktemp("browser"), TOPOLOGY, county_env=SIMULATION, extranets=(COUNTY,))
    try:
        fed.init_all()
        fed.start_all()
        fed.wait_for_standards()
        yield fed
    finally:
        fed.stop_all()


class Person:
    """A logged-in browser context (its own cookies) at one node."""

    def __init__(self, browser: Any, base: str, shots: Path) -> None:
        self.context = browser.new_context(
            base_url=base, viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm buttons' confirm step
        self.loads = 0  # full page loads of the main frame (a live part must update without one)
        self.page.on("load", self._loaded)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.shots = shots

    def _loaded(self, _page: Any) -> None:
        self.loads += 1

    def _console(self, msg: Any) -> None:
        # a failed load is reported below with its address (the browser's own /favicon.ico is not a page's)
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _response(self, response: Any) -> None:
        if response.status >= 500 or (response.status == 404 and not response.url.endswith("/favicon.ico")):
            self.errors.append(f"{response.status} {response.url}")

    def login(self, user_id: str, password: str) -> None:
        self.page.goto("/login")
        self.page.fill("#username", user_id)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.press("#password", "Enter")  # keyboard-usable: Enter submits
        assert "/login" not in self.page.url, self.page.locator("main").inner_text()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(browser: Any, screenshots: Path) -> Iterator[Callable[[str], Person]]:
    opened: list[Person] = []

    def open_at(base: str) -> Person:
        p = Person(browser, base, screenshots)
        opened.append(p)
        return p

    yield open_at
    for p in opened:
        p.close()
