"""The console in a real browser: Debian's Chromium (`/usr/bin/chromium`, driven through
`/usr/bin/chromedriver` by Selenium) against `callguard web` on the test lab. Records come from
real calls through the lab's Asterisk; every test saves screenshots under artifacts/screenshots/
and prints their paths."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from callguard.lab import Lab
from callguard.lab.console import add_account, add_lab_accounts
from callguard.store import list_messages, make_engine
from tests.integration.conftest import INBOUND_TEST_CONFIG, answering_test_config
from tests.integration.harness import Harness, now

pytestmark = pytest.mark.lab

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_DIR / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

OUTSIDE_CALLER = "13812348000"
OUTSIDE_CALLER_MASKED = "138****8000"  # SEC-2
MESSAGE_CALLER = "13512345678"
RINGING_SHOWN_WITHIN_S = 2.0  # the deadline for a ringing call on the wallboard


@dataclass
class Console:
    url: str
    people: dict[str, str]  # role → the person id that signs in with it
    passwords: dict[str, str]  # person id → password


@dataclass
class PlacedCalls:
    """The call ids of the calls the module places before its first page is opened."""

    since: datetime
    admin_internal: str  # chen.jie (1003, admin) → zhao.min (1002, admin)
    sales_internal: str  # zhou.qiang (2003, sales) → wu.fang (2004, sales)
    sales_outside: str  # 13812348000 from outside → wu.fang (2004, sales)

    @property
    def all(self) -> set[str]:
        return {self.admin_internal, self.sales_internal, self.sales_outside}


@pytest.fixture(scope="module")
def console(lab: Lab) -> Iterator[Console]:
    """`callguard web` started by the lab as `lab up` starts it, with the lab's accounts (one per
    role, made with `callguard user add`; the sales head is the one directory.toml names)."""
    assert lab.state is not None
    url = lab.start_console()
    try:
        accounts = add_lab_accounts(lab.state.config_path)
        yield Console(url, {a.role: a.person for a in accounts}, {a.person: a.password for a in accounts})
    finally:
        lab.stop_console()


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--disable-dev-shm-usage",
        "--window-size=1366,1000",
        # A message plays when the test calls play(), without a click; no sound card here.
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Browser:
    def __init__(self, driver: WebDriver, console: Console, test_name: str) -> None:
        self.driver = driver
        self.console = console
        self.test_name = test_name

    def open(self, path: str) -> None:
        self.driver.get(self.console.url + path)

    def submit_login(self, person: str, password: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/login")
        form = self.driver.find_element(By.CSS_SELECTOR, "form#login")
        form.find_element(By.NAME, "username").send_keys(person)
        form.find_element(By.NAME, "password").send_keys(password)
        form.submit()

    def sign_in(self, person: str) -> None:
        self.submit_login(person, self.console.passwords[person])
        self.wait(lambda: "/login" not in self.driver.current_url, f"{person} signed in")

    def wait(self, done: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                result = done()
            except WebDriverException:
                result = None
            if result:
                return result
            time.sleep(0.05)
        self.screenshot("timeout")
        raise AssertionError(f"{what}: not within {timeout} s (page {self.driver.current_url})")

    def rows(self, selector: str, attribute: str) -> dict[str, str]:
        """attribute value → the row's text, for every element matching `selector`."""
        return {
            str(row.get_attribute(attribute)): row.text
            for row in self.driver.find_elements(By.CSS_SELECTOR, selector)
        }

    def screenshot(self, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / re.sub(r"[^\w.]+", "-", f"{self.test_name}-{label}.png")
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def browser(chromium: WebDriver, console: Console, request: pytest.FixtureRequest) -> Browser:
    return Browser(chromium, console, request.node.name)


@pytest.fixture(scope="module")
async def placed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlacedCalls]:
    """Three answered calls through the lab: one inside admin, one inside sales, one from an
    outside number to sales."""
    harness = Harness(lab, tmp_path_factory.mktemp("console-calls"))
    # Connected, whatever an earlier module did to callguard (as the harness fixture does).
    if lab.state is not None and "callguard" not in lab.state.pids:
        lab.start_controller()
    lab.wait_controller_connected()
    try:
        since = now()
        ids = []
        for caller, dialed, outside in (
            ("1003", "1002", False),
            ("2003", "2004", False),
            (OUTSIDE_CALLER, "2004", True),
        ):
            t0 = now()
            phone = await harness.phone(dialed, "answer", answer_after_ms=200)
            place = harness.outside_call if outside else harness.dial
            call = await place(caller, dialed, talk_ms=500)
            assert await call.wait(timeout=30) == 0 and await phone.wait() == 0
            ids.append((await harness.wait_record(t0, dialed))["call_id"])
            await harness.wait_clean()
        yield PlacedCalls(since, *ids)
    finally:
        await harness.close()


def _since(placed: PlacedCalls) -> str:
    return placed.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


CALLS_SEEN = {
    # role → (which of the placed calls its list shows, the outside number as shown)
    "admin": ({"admin_internal", "sales_internal", "sales_outside"}, OUTSIDE_CALLER),
    "auditor": ({"admin_internal", "sales_internal", "sales_outside"}, OUTSIDE_CALLER),
    "finance": ({"admin_internal", "sales_internal", "sales_outside"}, OUTSIDE_CALLER_MASKED),
    "head": ({"sales_internal", "sales_outside"}, OUTSIDE_CALLER_MASKED),
    "employee": ({"admin_internal"}, None),
}


@pytest.mark.parametrize("role", sorted(CALLS_SEEN))
async def test_each_role_sees_only_its_calls(browser: Browser, placed: PlacedCalls, role: str) -> None:
    """LOG-3 + SEC-2 in the browser: each role's call list shows the placed calls it may see,
    none it may not, and the outside caller's number masked unless the role sees numbers."""
    visible, number_shown = CALLS_SEEN[role]
    browser.sign_in(browser.console.people[role])
    browser.open(f"/calls?from={_since(placed)}")
    rows = browser.wait(
        lambda: browser.rows("table#calls tbody tr[data-call-id]", "data-call-id"), "the calls table"
    )
    browser.screenshot(role)
    expected = {getattr(placed, name) for name in visible}
    assert set(rows) & placed.all == expected
    if number_shown is not None:
        outside_row = rows[placed.sales_outside]
        assert number_shown in outside_row
        if number_shown == OUTSIDE_CALLER_MASKED:
            assert OUTSIDE_CALLER not in browser.driver.page_source


async def test_operations_is_refused_the_call_list(browser: Browser, placed: PlacedCalls) -> None:
    """LOG-3: the operations desk sees the wallboard, not call records."""
    browser.sign_in(browser.console.people["operations"])
    browser.open(f"/calls?from={_since(placed)}")
    browser.screenshot("refused")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr[data-call-id]") == []
    assert "refused" in browser.driver.page_source.lower()


def _drawn(browser: Browser, selector: str) -> list[dict[str, float]]:
    """The on-screen boxes of the elements matching `selector` that have a non-zero size."""
    boxes: list[dict[str, float]] = browser.driver.execute_script(
        """return [...document.querySelectorAll(arguments[0])]
             .map(e => e.getBoundingClientRect())
             .filter(r => r.width > 0 && r.height > 0)
             .map(r => ({width: r.width, height: r.height}));""",
        selector,
    )
    return boxes


async def test_report_charts_are_drawn(browser: Browser, placed: PlacedCalls) -> None:
    """LOG-6: the sales head's compliance report draws its charts (SVG with a size, bars in it)
    from this month's calls, including the ones this module placed."""
    browser.sign_in(browser.console.people["head"])
    period = placed.since.astimezone().strftime("%Y-%m")
    browser.open(f"/reports/compliance?period={period}&department=sales")
    charts = browser.wait(lambda: _drawn(browser, "svg.chart"), "a drawn chart")
    bars = browser.wait(lambda: _drawn(browser, "svg.chart rect.bar"), "bars in the charts")
    browser.screenshot("compliance-sales")
    assert len(charts) >= 2 and len(bars) >= 1
    # wu.fang answered this module's sales calls; admin's people are not the sales head's (LOG-3).
    page = browser.driver.find_element(By.TAG_NAME, "main").text
    assert "Wu Fang" in page and "Chen Jie" not in page
    browser.open("/reports/person/wu.fang")
    browser.wait(lambda: _drawn(browser, "svg.chart rect.bar"), "bars in wu.fang's report")
    browser.screenshot("person-wu.fang")


async def test_employee_plays_a_message(lab: Lab, browser: Browser, tmp_path: Path) -> None:
    """XFER-3: nobody answers an outside call for chen.jie (1003, then the front desk and the
    operator); the caller leaves a message through the real lab. chen.jie sees it in the console
    and plays it in the browser: the audio element's clock advances and it reports no error."""
    harness = Harness(lab, tmp_path)
    try:
        t0 = now()
        phones = [await harness.phone(ext, "no_answer") for ext in ("1003", "8000", "8001")]
        caller = await harness.outside_call(MESSAGE_CALLER, "1003", talk_ms=None, dtmf=((9000, "~~#"),))
        assert await caller.wait(timeout=60) == 0
        for phone in phones:
            assert await phone.wait() == 0
        record = await harness.wait_record(t0, "1003", disposition="message")
    finally:
        await harness.close()
    engine = make_engine(harness.state.database_url)
    try:
        [message] = [m for m in await list_messages(engine, "1003") if m["call_id"] == record["call_id"]]
    finally:
        await engine.dispose()
    browser.sign_in(browser.console.people["employee"])
    browser.open("/messages")
    selector = f"tr[data-message-id='{message['id']}']"
    row = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, selector), "the message row")[0]
    assert "135****5678" in row.text  # SEC-2: an employee sees the caller's number masked
    assert message["duration_s"] >= 1  # long enough to see its clock pass 0.5 s
    audio = row.find_element(By.TAG_NAME, "audio")
    browser.driver.execute_script("arguments[0].play();", audio)
    played = browser.wait(
        lambda: browser.driver.execute_script(
            "const a = arguments[0]; return a.currentTime > 0.5 && !a.error && !a.paused && a.currentTime;",
            audio,
        ),
        "the message playing",
    )
    browser.screenshot("playing")
    assert played > 0.5 and browser.driver.execute_script("return arguments[0].error;", audio) is None


def _live_call(browser: Browser, state: str) -> dict[str, str] | None:
    """The wallboard's first live call to 2004 in `state`: its call id and text."""
    for element in browser.driver.find_elements(
        By.CSS_SELECTOR, f"#wallboard [data-call-id][data-state='{state}']"
    ):
        if "2004" in element.text:
            return {"call_id": str(element.get_attribute("data-call-id")), "text": element.text}
    return None


async def test_wallboard_shows_a_call_ringing_then_drops_it(
    lab: Lab, browser: Browser, tmp_path: Path
) -> None:
    """The operations desk's wallboard, fed by callguard's MQTT events: a lab call appears
    ringing within 2 s of being dialled (the issue's deadline), then talking, and leaves the
    board when it ends. callguard rings at 1 s a ring here so the call rings long enough to see."""
    browser.sign_in(browser.console.people["operations"])
    browser.open("/wallboard")
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "#wallboard"), "the wallboard")
    base_extra = lab.extra_config
    lab.reconfigure(lab.outbound_config, INBOUND_TEST_CONFIG + "\n" + answering_test_config(cadence_s=1.0))
    harness = Harness(lab, tmp_path)
    try:
        phone = await harness.phone("2004", "answer", answer_after_ms=2500)
        dialled = time.monotonic()
        caller = await harness.dial("1003", "2004", talk_ms=1500)
        within = RINGING_SHOWN_WITHIN_S - (time.monotonic() - dialled)
        ringing = await asyncio.to_thread(
            browser.wait, lambda: _live_call(browser, "ringing"), "ringing", within
        )
        seen_after = time.monotonic() - dialled
        browser.screenshot("ringing")
        # Who calls, and the ring count against ANS-1's limit of three rings.
        assert "1003" in ringing["text"] and re.search(r"ring \d of 3", ringing["text"])
        await asyncio.to_thread(browser.wait, lambda: _live_call(browser, "talking"), "talking", 5.0)
        browser.screenshot("talking")
        assert await caller.wait(timeout=30) == 0 and await phone.wait() == 0
        gone = f"#wallboard [data-call-id='{ringing['call_id']}']"
        await asyncio.to_thread(
            browser.wait, lambda: not browser.driver.find_elements(By.CSS_SELECTOR, gone), "gone", 5.0
        )
        browser.screenshot("ended")
        print(f"the call showed ringing {seen_after:.2f} s after it was dialled")
    finally:
        await harness.close()
        lab.reconfigure(lab.outbound_config, base_extra)


async def test_accounts_made_again_get_fresh_passwords(lab: Lab, browser: Browser) -> None:
    """The demo run again on the same lab database: chen.jie's account exists, so the lab gives
    it a new random password, changed as `callguard user password` does: the session signed in
    with the last run's password ends; the new one signs in, the last run's no longer does."""
    assert lab.state is not None
    old = browser.console.passwords["chen.jie"]
    browser.sign_in("chen.jie")
    account = add_account(lab.state.config_path, "chen.jie", "employee")
    assert account.password != old
    browser.open("/calls")
    browser.wait(lambda: "/login" in browser.driver.current_url, "the last run's session ended")
    browser.screenshot("old-session-ended")
    browser.console.passwords["chen.jie"] = account.password
    browser.sign_in("chen.jie")
    browser.submit_login("chen.jie", old)
    browser.wait(lambda: browser.driver.find_elements(By.ID, "login-error"), "the sign-in refused")
    browser.screenshot("old-password-refused")
