"""The live wallboard for the operations desk: one MQTT subscription per console process feeds a
Board; browsers get it as server-sent events within a second of each event. LOG-3 (who sees which
departments) and SEC-2 (masked numbers) apply per viewer; the database is read once, at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import aiomqtt
import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from callguard.config import Config
from callguard.events.mqtt import client_options
from callguard.policy import AnsweringPolicy, Directory
from callguard.reports.inputs import directory_maps
from callguard.store.archive import read_calls
from callguard.web.access import Reach, mask_record, scope
from callguard.web.audit import record
from callguard.web.board import Board, Row
from callguard.web.deps import Access, SignInRequired, console, current_viewer, page, require

log = structlog.get_logger("callguard.web.wallboard")
KEEPALIVE_S = 15.0  # a comment line now and then keeps proxies from closing a quiet stream
# An open stream checks its viewer's sign-in again before each push and this often when quiet:
# signing out, a disabled account, a changed password or an expired session ends it within this
# (security review F6).
CHECK_S = 2.0


class Hub:
    """The board and the streams watching it: each stream waits on its own flag, set at every
    change, and renders the board for its viewer when woken (bursts coalesce, nothing queues)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self._watchers: set[asyncio.Event] = set()

    def changed(self) -> None:
        for flag in self._watchers:
            flag.set()

    @contextlib.contextmanager
    def watch(self) -> Any:
        flag = asyncio.Event()
        self._watchers.add(flag)
        try:
            yield flag
        finally:
            self._watchers.discard(flag)


def make_board(config: Config) -> Board:
    who, names = directory_maps(config)
    answering = AnsweringPolicy(Directory(config.directory), config.answering)
    return Board(who, names, answering.rings, config.answering.ring_cadence_s)


async def load_today(hub: Hub, config: Config, state_engine: Any) -> None:
    """One read at start: today's ended calls, for each department's answering rate."""
    now = datetime.now().astimezone()
    start = datetime.combine(now.date(), datetime.min.time(), now.tzinfo)
    try:
        async with asyncio.timeout(30):
            calls = await read_calls(state_engine, start, now)
    except Exception as exc:  # noqa: BLE001 - the live part works without the day's history
        log.warning("wallboard.history_unavailable", error=repr(exc))
        return
    hub.board.load_today(now.date(), calls)
    hub.changed()


def on_message(hub: Hub, prefix: str, topic: str, payload: bytes) -> None:
    """One MQTT message: `<prefix>/<node>/status` (online/offline) or a JSON event."""
    parts = topic.split("/")
    if len(parts) == len(prefix.split("/")) + 2 and parts[-1] == "status":
        hub.board.set_status(parts[-2], payload.decode(errors="replace"))
        hub.changed()
        return
    try:
        event = json.loads(payload)
    except ValueError:
        log.warning("wallboard.bad_event", topic=topic)
        return
    if isinstance(event, dict) and hub.board.apply(event, datetime.now(UTC)):
        hub.changed()


async def follow(hub: Hub, config: Config, engine: Any) -> None:
    """Subscribe to the controller's events for ever (reconnecting), after one database read."""
    settings, prefix = config.mqtt, config.mqtt.topic_prefix
    if not settings.enabled:  # nothing publishes the calls: the board shows today's figures only
        log.warning("wallboard.no_mqtt", reason="[mqtt] enabled = false: the wallboard is not live")
        await load_today(hub, config, engine)
        return
    loaded, delay = False, 0.5
    while True:
        try:
            async with aiomqtt.Client(
                settings.host,
                settings.port,
                identifier=f"callguard-console-{config.service.node}-{os.getpid()}",
                timeout=5,
                **client_options(settings),
            ) as client:
                await client.subscribe(f"{prefix}/#", qos=1)
                log.info("wallboard.subscribed", host=settings.host, port=settings.port, topic=f"{prefix}/#")
                delay = 0.5
                if not loaded:  # subscribed first: a call ending meanwhile is counted once
                    await load_today(hub, config, engine)
                    loaded = True
                async for message in client.messages:
                    on_message(hub, prefix, str(message.topic), bytes(message.payload or b""))
        except (aiomqtt.MqttError, OSError) as exc:  # OSError: a TLS file that cannot be read
            log.warning("wallboard.mqtt_unavailable", error=str(exc), retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.reconnect_max_s)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state.console
    hub = app.state.wallboard = Hub(make_board(state.config))
    task = asyncio.create_task(follow(hub, state.config, state.engine), name="wallboard-mqtt")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(lifespan=lifespan)
Watching = Annotated[Access, Depends(require("wallboard"))]


def _hub(request: Request) -> Hub:
    hub: Hub | None = getattr(request.app.state, "wallboard", None)
    if hub is None:
        raise HTTPException(503, "the wallboard starts with the console (its lifespan did not run)")
    return hub


def board_for(hub: Hub, access: Access) -> Row:
    """LOG-3: a head sees their departments, the all-seeing roles everything; SEC-2 masking."""
    reach = access.scope.reach
    departments = None if reach is Reach.all else access.scope.departments
    view = hub.board.view(departments, lambda row: mask_record(access.viewer, row))
    return {"now": datetime.now(UTC).isoformat(), **view}


@router.get("/api/v1/wallboard", tags=["wallboard"])
async def wallboard_json(request: Request, access: Watching) -> Row:
    view = board_for(_hub(request), access)
    await record(access.viewer, "wallboard.read", {}, len(view["calls"]))
    return view


async def _still_watching(request: Request) -> Access | None:
    """The stream's viewer checked again exactly as each request is (deps.current_viewer: the
    session not signed out or expired, the token not revoked, the account enabled and in the
    directory), and their role still allowed the wallboard (LOG-3); None ends the stream."""
    try:
        viewer = await current_viewer(request)
    except SignInRequired:
        return None
    scope_ = scope(viewer, "wallboard")
    return None if scope_.refused else Access(viewer, scope_)


def _event(name: str, data: Row) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _woken(flag: asyncio.Event, within_s: float) -> bool:
    try:
        await asyncio.wait_for(flag.wait(), within_s)
    except TimeoutError:
        return False
    return True


async def _follow_board(
    request: Request, hub: Hub, access: Access, first: Row, life_s: float
) -> AsyncIterator[str]:
    """The board at every change, for as long as the viewer may watch it: their sign-in is checked
    again before each push and every CHECK_S while the board is quiet; the stream ends, with an
    `ended` event, once it fails or the stream has lived a whole session (session_hours; the
    session's own expiry ends it earlier: the check no longer finds the session)."""
    started = sent = time.monotonic()
    with hub.watch() as flag:
        yield _event("board", first)
        while True:
            woken = await _woken(flag, CHECK_S)
            still = await _still_watching(request)
            if still is None or time.monotonic() - started >= life_s:
                reason = "signed out" if still is None else "the session's time is up"
                log.info("wallboard.stream_ended", account=access.viewer.account, reason=reason)
                yield _event("ended", {"reason": reason})
                return
            if await request.is_disconnected():
                return
            access = still
            if woken:
                flag.clear()
                yield _event("board", board_for(hub, access))
                sent = time.monotonic()
            elif time.monotonic() - sent >= KEEPALIVE_S:
                yield ": keepalive\n\n"
                sent = time.monotonic()


@router.get("/wallboard/events", tags=["wallboard"])
async def wallboard_events(request: Request, access: Watching) -> StreamingResponse:
    """Server-sent events: `event: board` with the whole board (for this viewer) at once and
    after every change, until `event: ended` (signed out, disabled, session over). The stream is
    audited once, when it opens, with the calls of the first board this viewer is sent."""
    hub = _hub(request)
    first = board_for(hub, access)
    await record(access.viewer, "wallboard.stream", {}, len(first["calls"]))
    life_s = console(request).config.console.session_hours * 3600
    return StreamingResponse(
        _follow_board(request, hub, access, first, life_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/wallboard", include_in_schema=False)
async def wallboard_page(request: Request, access: Watching) -> Response:
    view = board_for(_hub(request), access)
    await record(access.viewer, "wallboard.view", {}, len(view["calls"]))
    state = console(request)
    return page(
        request, access.viewer, "wallboard.html", board=view, cadence_s=state.config.answering.ring_cadence_s
    )
