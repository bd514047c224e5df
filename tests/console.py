"""The console as its tests need it: the example configuration on a fresh SQLite database, accounts
made through the real store, and HTTP clients signed in through the real sign-in form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config import Config, load_config
from callguard.store import make_engine, migrate
from callguard.store.accounts import add_account
from callguard.web.app import create_app
from callguard.web.auth import hash_password

PROJECT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
# The example directory's people, one per console role (C4's browser tests use the same).
ACCOUNTS = {
    "admin": "wang.li",
    "auditor": "he.gang",
    "finance": "zhao.min",
    "head": "liu.yang",  # heads sales
    "employee": "chen.jie",  # admin, extension 1003
    "operations": "ma.lin",
}


def console_config(tmp_path: Path, **console: Any) -> Config:
    """The shipped example configuration, its database in `tmp_path`, `[console]` overridden."""
    env = {
        "CALLGUARD_ARI_PASSWORD": "a",
        "CALLGUARD_AMI_PASSWORD": "b",
        "CALLGUARD_STATE_DIR": str(tmp_path),
        "CALLGUARD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
    }
    config = load_config(PROJECT / "config" / "callguard.toml", env)
    return config.model_copy(update={"console": config.console.model_copy(update=console)})


@dataclass
class Console:
    config: Config
    engine: AsyncEngine
    app: FastAPI

    def client(self, address: str = "127.0.0.1", https: bool = False) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        base = "https://console.test" if https else "http://console.test"
        return httpx.AsyncClient(transport=transport, base_url=base)

    def recreated(self) -> Console:
        """The same database behind a new app: a restart of `callguard web`."""
        return Console(self.config, self.engine, create_app(self.config, self.engine))


@asynccontextmanager
async def running_console(
    tmp_path: Path, roles: tuple[str, ...] = tuple(ACCOUNTS), **console: Any
) -> AsyncIterator[Console]:
    """A migrated database with one account per role in `roles` (password PASSWORD)."""
    config = console_config(tmp_path, **console)
    engine = make_engine(config.database.url)
    await migrate(engine)
    hashed = hash_password(PASSWORD)
    for role in roles:
        await add_account(engine, ACCOUNTS[role], role, hashed)
    try:
        yield Console(config, engine, create_app(config, engine))
    finally:
        await engine.dispose()


HIDDEN = re.compile(r'name="(?P<name>csrf|next)" value="(?P<value>[^"]*)"')
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, form_path: str = "/login"
) -> httpx.Response:
    """Fill in and send the sign-in form as a browser would (its CSRF cookie and field)."""
    form = await client.get(form_path)
    fields = {m["name"]: m["value"] for m in HIDDEN.finditer(form.text)}
    return await client.post("/login", data={**fields, "username": username, "password": password})


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The session's CSRF token, as a signed-in page carries it."""
    page = await client.get("/api/docs")
    found = _META_CSRF.search(page.text)
    assert found, "no CSRF token on the page: not signed in?"
    return found.group(1)
