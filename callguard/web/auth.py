"""Signing in and out: argon2id passwords, server-side sessions, CSRF, throttled failures."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from callguard.store.accounts import (
    Account,
    clear_failures,
    close_session,
    failure_times,
    find_account,
    forget_failure,
    open_session,
    record_failure,
    set_password_hash,
)
from callguard.web.access import Viewer, make_viewer
from callguard.web.audit import record
from callguard.web.deps import (
    SESSION_COOKIE,
    ConsoleState,
    check_csrf,
    client_address,
    console,
    nav,
    optional_viewer,
    page,
)

log = structlog.get_logger()
router = APIRouter(include_in_schema=False)
_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Compared against when the account does not exist, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
LOGIN_COOKIE = "callguard_login"  # the sign-in form's CSRF token (double submit: no session yet)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _safe_next(target: str | None) -> str:
    # Only a path on this console: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, message: str = "", status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    nxt = _safe_next(request.query_params.get("next"))
    response = page(request, None, "login.html", status_code, message=message, login_csrf=token, next=nxt)
    secure = console(request).config.console.secure_cookies
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


def _held_back(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    """When sign-in opens again: `times` include this attempt's own row, so more than `limit`
    is too many; it opens once enough of them have aged out of the window."""
    if len(times) <= limit:
        return None
    return times[len(times) - limit - 1] + window


async def _throttled(state: ConsoleState, username: str, address: str) -> str | None:
    settings = state.config.console
    window = timedelta(minutes=settings.login_window_minutes)
    by_account, by_address = await failure_times(state.engine, username, address, datetime.now(UTC) - window)
    for times, limit, whose in (
        (by_account, settings.login_max_failures_account, "for this account"),
        (by_address, settings.login_max_failures_address, "from this address"),
    ):
        until = _held_back(times, limit, window)
        if until is not None:
            minutes = f"{settings.login_window_minutes:g} minutes"
            local = until.astimezone().strftime("%H:%M")  # shown local, as every time on the console
            return f"Too many failed sign-ins {whose} in the last {minutes}; try again after {local}."
    return None


async def _password_right(state: ConsoleState, username: str, password: str) -> Account | None:
    account = await find_account(state.engine, username)
    # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests go on.
    stored = account.password_hash if account else _DUMMY_HASH
    ok = await asyncio.to_thread(password_matches, stored, password)
    if account is None or not ok or account.disabled or username not in state.org.people:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        await set_password_hash(state.engine, account.id, await asyncio.to_thread(hash_password, password))
    return account


async def _sign_in(state: ConsoleState, username: str, password: str, address: str) -> Account | str:
    """The account, or why not. Every attempt is stored as a failure BEFORE the password is
    checked and counted with the others, so concurrent guesses cannot all slip under the
    throttle; a right password then removes its row (and the account's earlier ones)."""
    window = timedelta(minutes=state.config.console.login_window_minutes)
    attempt = await record_failure(state.engine, username, address, datetime.now(UTC) - window)
    refusal = await _throttled(state, username, address)
    if refusal:
        await forget_failure(state.engine, attempt)  # not tried, so not a failure
        log.warning("console.login_throttled", account=username, address=address)
        return refusal
    account = await _password_right(state, username, password)
    if account is None:
        log.warning("console.login_failed", account=username, address=address)
        return "Wrong account name or password."
    await clear_failures(state.engine, username)
    return account


def _with_session(state: ConsoleState, target: str, session_id: str) -> Response:
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(state.config.console.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=state.config.console.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


# Longer fields than any account name or sane password are refused before anything is stored
# or logged (a megabyte "name" would otherwise land in the log on every try).
_MAX_NAME, _MAX_PASSWORD = 64, 1024


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/"),  # noqa: A002 - the form field's name
) -> Response:
    state, username = console(request), username.strip()
    if not csrf or csrf != request.cookies.get(LOGIN_COOKIE):
        return _login_page(request, "The sign-in form expired; please try again.", 403)
    if len(username) > _MAX_NAME or len(password) > _MAX_PASSWORD:
        return _login_page(request, "Wrong account name or password.", 401)
    address = client_address(request)
    outcome = await _sign_in(state, username, password, address)
    if isinstance(outcome, str):
        return _login_page(request, outcome, 429 if outcome.startswith("Too many") else 401)
    session_id, csrf = await open_session(state.engine, outcome.id, state.config.console.session_hours)
    log.info("console.login", account=username, role=outcome.role, address=address)
    # Auditors see who was signed in when, beside what they read.
    viewer = make_viewer(state.org, username, outcome.role, address, state.engine, csrf)
    await record(viewer, "session.sign_in", {}, 0)
    return _with_session(state, next, session_id)


@router.post("/logout")
async def logout(request: Request, viewer: Annotated[Viewer, Depends(check_csrf)]) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await close_session(console(request).engine, session_id)
    log.info("console.logout", account=viewer.account)
    await record(viewer, "session.sign_out", {}, 0)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    viewer = await optional_viewer(request)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    links = nav(viewer)
    if not links:
        return page(request, viewer, "home.html")
    return RedirectResponse(links[0][0], status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
