"""FastAPI dependencies and rendering helpers every console route uses.

    viewer: SignedIn                                     # signed in (session cookie or bearer token)
    access: Annotated[Access, Depends(require("calls"))] # LOG-3: 403 (audited) unless the role may
    Annotated[Viewer, Depends(check_csrf)]               # on every POST made with a session
    page(request, access.viewer, "calls.html", rows=rows) / csv_response(rows, columns, "calls.csv")

After require(), a 2xx answer must follow `await audit.record(...)` (guard.py withholds it otherwise).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config import Config
from callguard.reports.formats import excel_safe
from callguard.store.accounts import Account, account_by_id, account_for_token, find_session
from callguard.web.access import MATRIX, Org, Reach, Scope, Viewer, make_viewer, scope
from callguard.web.guard import read_started

SESSION_COOKIE = "callguard_session"


@dataclass
class ConsoleState:
    """What create_app() builds once and every request reads (app.state.console)."""

    config: Config
    engine: AsyncEngine
    org: Org
    templates: Jinja2Templates


def console(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


class SignInRequired(Exception):
    """No valid session or token: pages redirect to /login, the API answers 401."""


def client_address(request: Request) -> str:
    # The reverse proxy's address when behind one: uvicorn --proxy-headers (README) rewrites it.
    return request.client.host if request.client else "unknown"


async def _signed_in(state: ConsoleState, request: Request) -> tuple[Account, str | None] | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        account = await account_for_token(state.engine, authorization[7:].strip())
        return (account, None) if account else None
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    found = await find_session(state.engine, session_id)
    if found is None:
        return None
    account = await account_by_id(state.engine, found[0])
    return (account, found[1]) if account else None


async def current_viewer(request: Request) -> Viewer:
    state = console(request)
    signed_in = await _signed_in(state, request)
    if signed_in is None:
        raise SignInRequired()
    account, csrf = signed_in
    person = state.org.people.get(account.username)
    # A disabled account, or a person who left the directory, is signed out everywhere.
    if account.disabled or person is None or account.role not in MATRIX:
        raise SignInRequired()
    return make_viewer(state.org, account.username, account.role, client_address(request), state.engine, csrf)


async def optional_viewer(request: Request) -> Viewer | None:
    """The viewer on pages anyone may open (sign-in, API docs): None when signed out."""
    try:
        return await current_viewer(request)
    except SignInRequired:
        return None


@dataclass(frozen=True)
class Access:
    viewer: Viewer
    scope: Scope


SignedIn = Annotated[Viewer, Depends(current_viewer)]


def require(what: str) -> Callable[..., Awaitable[Access]]:
    """A dependency: the viewer and their scope for `what`; refused (403) and audited otherwise."""

    async def dependency(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Access:
        scope_ = scope(viewer, what)
        if scope_.refused:
            from callguard.web.audit import record  # audit's routes use this module

            filters = {**dict(request.query_params), "path": request.url.path}  # ?path= cannot hide it
            await record(viewer, f"{what}.refused", filters, 0)
            raise HTTPException(403, f"LOG-3: refused: the {viewer.role} role may not read {what}")
        read_started()  # from here on, data goes out only after its audit entry (guard.py)
        return Access(viewer, scope_)

    return dependency


async def check_csrf(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """Every POST made with a session carries its CSRF token (form field `csrf` or X-CSRF-Token);
    a bearer-token request has no cookie a third-party page could ride on."""
    if viewer.csrf is None:
        return viewer
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf", ""))
    if sent != viewer.csrf:
        raise HTTPException(403, "the form is stale or was not sent by the console (CSRF); reload and retry")
    return viewer


def nav(viewer: Viewer | None) -> list[tuple[str, str]]:
    """The menu: only what the viewer's role may open."""
    links = [
        ("calls", "/calls", "Calls"),
        ("violations", "/violations", "Violations"),
        ("messages", "/messages", "Messages"),
        ("reports", "/reports/compliance", "Reports"),
        ("bills", "/bills", "Bills"),
        ("recordings", "/recordings", "Recordings"),
        ("wallboard", "/wallboard", "Wallboard"),
        ("audit", "/audit", "Audit"),
    ]
    if viewer is None:
        return []
    return [(href, label) for what, href, label in links if MATRIX[viewer.role][what] is not Reach.refused]


def page(
    request: Request, viewer: Viewer | None, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A server-rendered page on base.html: the viewer, the menu and the CSRF token for its forms."""
    state = console(request)
    context.update(viewer=viewer, nav=nav(viewer), csrf=viewer.csrf if viewer else None)
    response: HTMLResponse = state.templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response


def csv_response(rows: Iterable[dict[str, Any]], columns: Sequence[str], filename: str) -> Response:
    """The same rows as the page and the JSON, as CSV (UTF-8 with BOM: Excel opens Chinese names)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        # A caller's name comes from the caller ID (untrusted): no cell may run as a formula.
        writer.writerow({key: excel_safe(value) for key, value in row.items()})
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
