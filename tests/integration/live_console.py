"""The console app served by uvicorn inside the test process against the running lab (its
lifespan subscribes to the lab's MQTT broker), with an API token per account."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from argon2 import PasswordHasher

from callguard.config import load_config
from callguard.lab import Lab
from callguard.store import make_engine, migrate
from callguard.store.accounts import add_account, create_token, find_account
from callguard.web.app import create_app

# Login names are the people's directory ids (config/directory.toml).
ACCOUNTS = {"ma.lin": "operations", "chen.jie": "employee", "he.gang": "auditor"}


@dataclass
class LiveConsole:
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, account: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[account]}"}


@contextlib.asynccontextmanager
async def live_console(lab: Lab, accounts: dict[str, str] = ACCOUNTS) -> AsyncIterator[LiveConsole]:
    assert lab.state is not None
    config = load_config(lab.state.config_path)
    engine = make_engine(config.database.url)
    await migrate(engine)
    tokens = {}
    for account, role in accounts.items():
        if await find_account(engine, account) is None:
            await add_account(engine, account, role, PasswordHasher().hash("not used: tokens only"))
        tokens[account] = (await create_token(engine, account, "live console test"))[1]
    await engine.dispose()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveConsole(f"http://127.0.0.1:{port}", tokens)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
