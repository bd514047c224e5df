"""An open wallboard stream lives only as long as its viewer's sign-in (security review F6): the
console served by a real uvicorn over a real SQLite database; signing out, a disabled account, a
changed password, a revoked token, an expired session or a whole session's time each end the
stream (an `ended` event, then the connection closes) within a few seconds, and no board made
after it reaches the viewer. LOG-3: the stream's audit entry counts the calls the viewer is sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from callguard.config import Config
from callguard.store.accounts import change_account, find_account, open_session, revoke_token, set_disabled
from callguard.store.audit import list_entries
from callguard.web.app import create_app
from callguard.web.auth import hash_password
from callguard.web.wallboard import Hub
from tests.integration.console_records import Console, console

ENDS_WITHIN_S = 5.0  # "within a few seconds" (the stream checks its viewer every 2 s when quiet)
OPERATIONS = "ma.lin"


@dataclass
class Served:
    made: Console
    url: str
    hub: Hub


@contextlib.asynccontextmanager
async def served(tmp: Path, **console_settings: Any) -> AsyncIterator[Served]:
    """The console app (with [console] settings changed) on uvicorn; MQTT off, so only the test
    changes the board."""
    async for made in console(tmp):
        config: Config = made.config.model_copy(
            update={
                "mqtt": made.config.mqtt.model_copy(update={"enabled": False}),
                "console": made.config.console.model_copy(update=console_settings),
            }
        )
        app = create_app(config, made.engine)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Served(made, f"http://127.0.0.1:{port}", app.state.wallboard)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


@dataclass
class Stream:
    """The events of one /wallboard/events stream as (name, data), and when it closed."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closed_at: float | None = None

    def boards(self) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == "board"]


async def _read(client: httpx.AsyncClient, url: str, stream: Stream) -> None:
    async with client.stream("GET", url + "/wallboard/events", timeout=None) as resp:
        assert resp.status_code == 200
        name = ""
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                stream.events.append((name, json.loads(line[6:])))
                stream.arrived.set()
    stream.closed_at = time.monotonic()
    stream.arrived.set()


@contextlib.asynccontextmanager
async def watching(client: httpx.AsyncClient, url: str) -> AsyncIterator[Stream]:
    stream = Stream()
    task = asyncio.create_task(_read(client, url, stream))
    try:
        async with asyncio.timeout(5):
            while not stream.boards():
                stream.arrived.clear()
                await stream.arrived.wait()
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ring(hub: Hub, call_id: str, ext: str, caller: str = "13800138000") -> None:
    """A call ringing `ext`, as callguard's events tell the board."""
    now = datetime.now(UTC)
    hub.board.apply(
        {"event": "call.started", "call_id": call_id, "node": "node1", "direction": "inbound"}
        | {"caller": caller, "dialed": ext},
        now,
    )
    hub.board.apply({"event": "call.ringing", "call_id": call_id, "ext": ext}, now)
    hub.changed()


async def ends_soon(stream: Stream, hub: Hub, busy: bool = True) -> float:
    """After the viewer lost their sign-in: within ENDS_WITHIN_S the stream says `ended` and
    closes. Busy: the board changes at once, and that change is not sent; quiet: nothing changes
    and the stream still ends (its own check). Returns how long it took."""
    seen, began = len(stream.events), time.monotonic()
    if busy:
        ring(hub, "after-sign-in-lost", "1003")
    await _closed(stream, ENDS_WITHIN_S, sending_no_board_after=seen)
    assert [name for name, _ in stream.events[seen:]] == ["ended"]
    assert stream.closed_at is not None
    return stream.closed_at - began


async def _closed(stream: Stream, within_s: float, sending_no_board_after: int | None = None) -> None:
    """Until the stream closes (a TimeoutError after `within_s`)."""
    async with asyncio.timeout(within_s):
        while stream.closed_at is None:
            stream.arrived.clear()
            await stream.arrived.wait()
            if sending_no_board_after is not None:
                late = [data for name, data in stream.events[sending_no_board_after:] if name == "board"]
                assert not late, f"F6: a board was sent after the sign-in ended: {late}"


async def _sign_out(s: Served, client: httpx.AsyncClient, csrf: str) -> None:
    response = await client.post(s.url + "/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 303


async def _disable(s: Served, client: httpx.AsyncClient, csrf: str) -> None:
    await set_disabled(s.made.engine, OPERATIONS)


async def _new_password(s: Served, client: httpx.AsyncClient, csrf: str) -> None:
    await change_account(s.made.engine, OPERATIONS, password_hash=hash_password("a brand new password"))


LOSSES: dict[str, Callable[[Served, httpx.AsyncClient, str], Awaitable[None]]] = {
    "signed out": _sign_out,
    "account disabled": _disable,
    "password changed": _new_password,
}


@pytest.mark.parametrize("board", ["busy", "quiet"])
@pytest.mark.parametrize("loss", LOSSES)
async def test_a_browser_stream_ends_when_its_session_does(tmp_path: Path, loss: str, board: str) -> None:
    async with served(tmp_path) as s:
        account = await find_account(s.made.engine, OPERATIONS)
        assert account is not None
        session_id, csrf = await open_session(s.made.engine, account.id, 1)
        cookies = {"callguard_session": session_id}
        async with httpx.AsyncClient(cookies=cookies) as client, watching(client, s.url) as stream:
            await LOSSES[loss](s, client, csrf)
            took = await ends_soon(stream, s.hub, busy=board == "busy")
        assert stream.events[-1] == ("ended", {"reason": "signed out"})
        print(f"{loss}, {board} board: the stream ended {took:.2f} s later")


@pytest.mark.parametrize("loss", ["token revoked", "account disabled"])
async def test_an_api_stream_ends_when_its_token_stops_working(tmp_path: Path, loss: str) -> None:
    async with served(tmp_path) as s:
        headers = {"Authorization": f"Bearer {s.made.tokens[OPERATIONS]}"}
        async with httpx.AsyncClient(headers=headers) as client, watching(client, s.url) as stream:
            if loss == "token revoked":
                await revoke_token(s.made.engine, _token_id(s.made, OPERATIONS))
            else:
                await set_disabled(s.made.engine, OPERATIONS)
            await ends_soon(stream, s.hub)


def _token_id(made: Console, person: str) -> int:
    # console_records makes one token per account, in ACCOUNTS order: ids 1, 2, ...
    return list(made.tokens).index(person) + 1


async def test_a_stream_ends_when_its_session_expires(tmp_path: Path) -> None:
    """A quiet board: no push, and still the session's expiry (3 s here) ends the stream."""
    async with served(tmp_path) as s:
        account = await find_account(s.made.engine, OPERATIONS)
        assert account is not None
        session_id, _ = await open_session(s.made.engine, account.id, 3 / 3600)
        opened = time.monotonic()
        cookies = {"callguard_session": session_id}
        async with httpx.AsyncClient(cookies=cookies) as client, watching(client, s.url) as stream:
            await _closed(stream, 3 + ENDS_WITHIN_S)
        assert stream.events[-1] == ("ended", {"reason": "signed out"})
        assert stream.closed_at is not None and stream.closed_at - opened >= 2.5


async def test_a_token_stream_lives_no_longer_than_a_session(tmp_path: Path) -> None:
    """A bearer token never expires, but its stream is capped at [console] session_hours (here
    0.001 h = 3.6 s), as a browser's session would be."""
    async with served(tmp_path, session_hours=0.001) as s:
        headers = {"Authorization": f"Bearer {s.made.tokens[OPERATIONS]}"}
        opened = time.monotonic()
        async with httpx.AsyncClient(headers=headers) as client, watching(client, s.url) as stream:
            await _closed(stream, 3.6 + ENDS_WITHIN_S)
        assert stream.events[-1] == ("ended", {"reason": "the session's time is up"})
        assert stream.closed_at is not None and stream.closed_at - opened >= 3.5


async def test_the_stream_audit_counts_the_calls_this_viewer_is_sent(tmp_path: Path) -> None:
    """LOG-3: the sales head's stream shows sales' ringing call, not admin's; its audit entry
    counts that one call, not every call on the board."""
    async with served(tmp_path) as s:
        ring(s.hub, "admin-call", "1003")
        ring(s.hub, "sales-call", "2003")
        headers = {"Authorization": f"Bearer {s.made.tokens['liu.yang']}"}
        async with httpx.AsyncClient(headers=headers) as client, watching(client, s.url) as stream:
            sent = [c["call_id"] for c in stream.boards()[0]["calls"]]
        entries = await list_entries(s.made.engine, limit=50)
    assert sent == ["sales-call"]
    audited = [e for e in entries if e["account"] == "liu.yang" and e["action"] == "wallboard.stream"]
    assert [e["count"] for e in audited] == [1]
