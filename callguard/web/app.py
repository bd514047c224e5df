"""The console's ASGI app: `create_app(config)` wires settings, database, templates and routes."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException

from callguard.config import Config
from callguard.store import make_engine
from callguard.web.access import Org
from callguard.web.auth import login_redirect
from callguard.web.deps import ConsoleState, SignInRequired, optional_viewer, page
from callguard.web.guard import AuditGuard

HERE = Path(__file__).parent
API = "/api/v1"

# Each area of the console is a module with a `router` (its pages and its /api/v1 routes).
# Add yours here (one line); every route must have a row in tests/integration/test_console_api.py.
ROUTER_MODULES = (
    "callguard.web.auth",
    "callguard.web.audit",
    "callguard.web.docs",
    "callguard.web.wallboard",
    "callguard.web.recordings",
    "callguard.web.routes_calls",
    "callguard.web.routes_reports",
    "callguard.web.routes_bills",
    "callguard.web.routes_violations",
    "callguard.web.routes_messages",
)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def _sign_in_required(request: Request, _exc: Exception) -> Response:
    if _wants_html(request):
        return login_redirect(request)
    return JSONResponse({"detail": "sign in, or send Authorization: Bearer <token>"}, status_code=401)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _wants_html(request):
        viewer = await optional_viewer(request)
        return page(request, viewer, "error.html", exc.status_code, status=exc.status_code, detail=exc.detail)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    # Records must not linger in browser or proxy caches; nobody may frame the console (clickjacking).
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


def create_app(config: Config, engine: AsyncEngine | None = None) -> FastAPI:
    """The console for this configuration; `engine` defaults to the configured database.
    The schema must be current (`callguard web` migrates before serving)."""
    # FastAPI's own docs page loads Swagger from a CDN: PBX networks are offline, so /api/docs
    # is a plain local page over /api/openapi.json (callguard.web.docs).
    app = FastAPI(
        title="callguard console",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.console = ConsoleState(
        config=config,
        engine=engine or make_engine(config.database.url),
        org=Org(config),
        templates=templates,
    )
    app.middleware("http")(_headers)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(AuditGuard)  # outermost: sees every answer's status first (LOG-3)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for name in ROUTER_MODULES:
        module: Any = importlib.import_module(name)
        app.include_router(module.router)
    return app
