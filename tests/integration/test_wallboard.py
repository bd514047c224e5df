"""The live wallboard against the real lab: calls placed through Asterisk appear on the console's
server-sent event stream (fed by callguard's MQTT events) ringing, then talking, then gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from callguard.config import load_config
from callguard.lab import Lab
from callguard.store import make_engine
from callguard.store.audit import list_entries
from tests.integration.harness import Harness, callguard_log
from tests.integration.live_console import LiveConsole, live_console

pytestmark = pytest.mark.lab

# The deadline: an event reaches the browsers within a second.
PUSH_DEADLINE_S = 1.0


@pytest.fixture
async def console(lab: Lab) -> AsyncIterator[LiveConsole]:
    async with live_console(lab) as served:
        yield served


@dataclass
class Stream:
    """Every `board` the SSE stream pushed, with the wall-clock time it arrived."""

    boards: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    cursor: int = 0  # boards before it were matched or passed over by an earlier wait

    async def wait(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> tuple[float, dict[str, Any]]:
        """The first board from the cursor on that passes `check` (boards come in order)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.boards):
                arrived, board = self.boards[self.cursor]
                self.cursor += 1
                if check(board):
                    return arrived, board
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such board within {timeout} s; last: {self.boards[-1:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


async def _read(client: httpx.AsyncClient, url: str, headers: dict[str, str], stream: Stream) -> None:
    async with client.stream("GET", url, headers=headers, timeout=None) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "board":
                stream.boards.append((time.time(), json.loads(line[6:])))
                stream.changed.set()


@contextlib.asynccontextmanager
async def watching(console: LiveConsole, account: str) -> AsyncIterator[Stream]:
    stream = Stream()
    async with httpx.AsyncClient() as client:
        task = asyncio.create_task(
            _read(client, console.url + "/wallboard/events", console.auth(account), stream)
        )
        try:
            await stream.wait(lambda board: True)  # the whole board at once, on connect
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def call_on(board: dict[str, Any], ext: str) -> dict[str, Any] | None:
    return next((c for c in board["calls"] if c["ext"] == ext), None)


def department(board: dict[str, Any], dept: str) -> dict[str, Any]:
    return next(d for d in board["departments"] if d["id"] == dept)


def logged_at(lab: Lab, event: str, ext: str | None = None) -> tuple[str, float]:
    """The call id and the time callguard emitted the last `event` (for `ext`)."""
    entries = [
        e for e in callguard_log(lab) if e.get("event") == event and (ext is None or e.get("ext") == ext)
    ]
    last = entries[-1]
    return str(last["call_id"]), datetime.fromisoformat(last["timestamp"]).timestamp()


async def test_a_call_rings_then_leaves_the_board_within_a_second(
    harness: Harness, lab: Lab, console: LiveConsole
) -> None:
    """An internal call nobody answers: on the operations desk's stream it rings (sales, its ring
    count against the 3-ring limit), and leaves when callguard gives up (3 s here); each within
    a second of callguard's event. Today's sales figures count one more unanswered offer."""
    async with watching(console, "ma.lin") as stream:
        before = department(stream.boards[-1][1], "sales")
        phone = await harness.phone("2002", "no_answer")
        caller = await harness.dial("1001", "2002")

        arrived, board = await stream.wait(lambda b: call_on(b, "2002") is not None)
        ringing = call_on(board, "2002")
        assert ringing is not None
        assert (ringing["state"], ringing["department"], ringing["rings_limit"]) == ("ringing", "sales", 3)
        assert ringing["name"] == "孙慧 Sun Hui" and ringing["caller"] == "1001"
        call_id, emitted = logged_at(lab, "call.ringing", "2002")
        assert ringing["call_id"] == call_id
        assert arrived - emitted <= PUSH_DEADLINE_S

        gone, board = await stream.wait(lambda b: call_on(b, "2002") is None)
        assert await caller.wait() == 0 and await phone.wait() == 0
        assert logged_at(lab, "call.ended")[0] == call_id
        assert gone - logged_at(lab, "call.ended")[1] <= PUSH_DEADLINE_S
        after = department(board, "sales")
        assert (after["offered"], after["chances"], after["answered_in_limit"]) == (
            before["offered"] + 1,
            before["chances"] + 1,
            before["answered_in_limit"],
        )
    await harness.wait_clean()


async def test_an_answered_outside_call_talks_masked_and_counts_in_the_limit(
    harness: Harness, lab: Lab, console: LiveConsole
) -> None:
    """An outside caller reaches sales (2003), answered at the second ring: the board shows it
    talking with the caller's number masked for the operations role (SEC-2); when it ends,
    sales has one more call answered within the ring limit (ANS-1)."""
    async with watching(console, "ma.lin") as stream:
        before = department(stream.boards[-1][1], "sales")
        phone = await harness.phone("2003", "answer", answer_after_ms=400)
        caller = await harness.outside_call("13912345678", "2003", talk_ms=1500)

        _, board = await stream.wait(
            lambda b: (c := call_on(b, "2003")) is not None and c["state"] == "talking"
        )
        talking = call_on(board, "2003")
        assert (
            talking is not None and talking["caller"] == "139****5678" and talking["direction"] == "inbound"
        )
        assert "13912345678" not in json.dumps(stream.boards)

        _, board = await stream.wait(lambda b: call_on(b, "2003") is None)
        assert await caller.wait() == 0 and await phone.wait() == 0
        after = department(board, "sales")
        assert after["answered_in_limit"] == before["answered_in_limit"] + 1
        assert after["answered"] == before["answered"] + 1
    await harness.wait_clean()


async def test_the_wallboard_is_refused_to_an_employee_and_every_read_is_audited(
    lab: Lab, console: LiveConsole
) -> None:
    """LOG-3: an employee may not watch the wallboard (403, audited as a refusal); the operations
    desk's page, stream and JSON reads each leave an audit entry."""
    async with httpx.AsyncClient(base_url=console.url) as client:
        refused = await client.get("/wallboard/events", headers=console.auth("chen.jie"))
        assert refused.status_code == 403
        assert (await client.get("/api/v1/wallboard", headers=console.auth("chen.jie"))).status_code == 403
        page = await client.get("/wallboard", headers={**console.auth("ma.lin"), "accept": "text/html"})
        assert (
            page.status_code == 200 and 'id="wallboard"' in page.text and "/static/wallboard.js" in page.text
        )
        script = await client.get("/static/wallboard.js")
        assert script.status_code == 200 and "EventSource" in script.text
        board = await client.get("/api/v1/wallboard", headers=console.auth("ma.lin"))
        assert board.status_code == 200 and {"calls", "departments", "violations", "alerts"} <= set(
            board.json()
        )
    async with watching(console, "ma.lin"):
        pass
    engine = make_engine(load_config(lab.state.config_path).database.url)  # type: ignore[union-attr]
    try:
        entries = await list_entries(engine, limit=50)
    finally:
        await engine.dispose()
    actions = {(e["account"], e["action"]) for e in entries}
    assert {
        ("chen.jie", "wallboard.refused"),
        ("ma.lin", "wallboard.view"),
        ("ma.lin", "wallboard.read"),
        ("ma.lin", "wallboard.stream"),
    } <= actions
