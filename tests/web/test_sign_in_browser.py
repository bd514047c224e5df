"""Signing in with a real browser (Debian's Chromium through Selenium) against `callguard web`
started as an administrator starts it: the session cookie the browser keeps is HttpOnly and
SameSite=Strict (a page script cannot read it), repeated failures show the throttle's message,
a page asked for while signed out comes back after signing in, and signing out ends it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.console import PASSWORD, PROJECT

CONFIG = str(PROJECT / "config" / "callguard.toml")
ARTIFACTS = PROJECT / "artifacts" / "console-sign-in"


def _env(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CALLGUARD_ARI_PASSWORD": "a",
        "CALLGUARD_AMI_PASSWORD": "b",
        "CALLGUARD_STATE_DIR": str(state),
        "CALLGUARD_DATABASE_URL": f"sqlite+aiosqlite:///{state / 'console.db'}",
    }


def _callguard(state: Path, *args: str, stdin: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-m", "callguard", *args, "--config", CONFIG],
        input=stdin, capture_output=True, text=True, env=_env(state), cwd=PROJECT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("console")
    _callguard(state, "user", "add", "he.gang", "--role", "auditor", stdin=PASSWORD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web = subprocess.Popen(
        [sys.executable, "-m", "callguard", "web", "--config", CONFIG, "--port", str(port)],
        env=_env(state), cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30  # functional: the console must come up at all
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        web.terminate()
        web.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver, done: Callable[[], Any], what: str, name: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if result := done():
                return result
        except WebDriverException:
            pass
        time.sleep(0.05)
    _shot(driver, f"{name}-timeout")
    raise AssertionError(f"{what}: not within 10 s (at {driver.current_url})")


def _shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _submit(driver: WebDriver, person: str, password: str) -> None:
    form = driver.find_element(By.CSS_SELECTOR, "form#login")
    form.find_element(By.NAME, "username").send_keys(person)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.ID, "sign-in").click()


def test_sign_in_back_to_the_page_asked_for_with_a_cookie_no_script_can_read(
    chromium: WebDriver, console_url: str
) -> None:
    chromium.delete_all_cookies()
    chromium.get(console_url + "/audit")  # signed out: the sign-in form, then back here
    _wait(chromium, lambda: "/login" in chromium.current_url, "sent to sign in", "redirect")
    _submit(chromium, "he.gang", PASSWORD)
    # The sign-in page's own address ends in "?next=/audit": wait for the page itself.
    _wait(chromium, lambda: urlsplit(chromium.current_url).path == "/audit", "back at /audit", "back")
    viewer = _wait(chromium, lambda: chromium.find_element(By.ID, "viewer"), "the audit page", "back")
    assert viewer.get_attribute("data-role") == "auditor"
    _shot(chromium, "auditor-signed-in")
    session = next(c for c in chromium.get_cookies() if c["name"] == "callguard_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert "callguard_session" not in chromium.execute_script("return document.cookie")
    # Opened again, the audit page lists the first opening (LOG-3: auditors' own reads too).
    chromium.refresh()
    actions = [
        td.text for td in chromium.find_elements(By.CSS_SELECTOR, "table#audit tbody tr td:nth-child(5)")
    ]
    assert "session.sign_in" in actions and "audit.list" in actions
    chromium.find_element(By.ID, "logout").click()
    _wait(chromium, lambda: "/login" in chromium.current_url, "signed out", "logout")
    chromium.get(console_url + "/audit")
    _wait(chromium, lambda: "/login" in chromium.current_url, "signed out for good", "after-logout")


def test_repeated_failures_show_the_throttle_message(chromium: WebDriver, console_url: str) -> None:
    chromium.delete_all_cookies()
    for _ in range(5):  # [console] login_max_failures_account
        chromium.get(console_url + "/login")
        _submit(chromium, "he.gang", "not the password")
        _wait(chromium, lambda: chromium.find_element(By.ID, "login-error").text, "an error shown", "failure")
    chromium.get(console_url + "/login")
    _submit(chromium, "he.gang", PASSWORD)  # even the right password waits now
    message = _wait(
        chromium, lambda: chromium.find_element(By.ID, "login-error").text, "throttled", "throttle"
    )
    _shot(chromium, "throttled")
    assert message.startswith(
        "Too many failed sign-ins for this account in the last 15 minutes; try again after "
    )
    assert not any(c["name"] == "callguard_session" for c in chromium.get_cookies())
