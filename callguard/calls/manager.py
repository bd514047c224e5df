"""Routes ARI events to call sessions, starts one worker task per call, re-adopts after restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from callguard.ari.client import AriActions, AriClient, AriError
from callguard.calls import events as ev
from callguard.calls.adoption import DIRECTIONS, adoption_of, clean_orphans, forget_facts, strays
from callguard.calls.context import Emitter, Persister, SessionContext
from callguard.calls.persist import save as persist_facts
from callguard.calls.pin_lockouts import PinLockouts, pin_guard
from callguard.calls.session import CallSession
from callguard.config import CallSettings
from callguard.config.supervision import SupervisionSettings
from callguard.policy import (
    AnsweringPolicy,
    BlockEntry,
    CallRequest,
    Directory,
    InboundPolicy,
    OutboundPolicy,
    RepeatCallers,
    TollFraudGuard,
)
from callguard.records import CallRecord

log = structlog.get_logger("callguard.calls")

JSON = dict[str, Any]

# The events sessions act on. Asterisk sends a Stasis app every channel event by default
# (variable sets, dialplan steps, connected line, ...): filtering them at the source halves
# what both sides serialise and parse per call.
EVENT_TYPES = [
    "StasisStart",
    "StasisEnd",
    "Dial",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "PlaybackFinished",
    "ChannelDtmfReceived",
    "RecordingFinished",
    "RecordingFailed",
]


def _request(
    channel: ev.Channel, args: tuple[str, ...], overloaded: bool = False, recent_calls: int = 0
) -> CallRequest:
    """The facts of a new call, from the caller's channel and its Stasis(callguard, ...) arguments:
    direction, the (filtered) dialled number, "malformed" when the dialplan had to filter it, and
    for desk phones the PJSIP endpoint (the line: caller ID is whatever the phone claims)."""
    return CallRequest(
        caller=channel.caller_number,
        dialed=args[1] if len(args) > 1 else "",
        direction=args[0],
        malformed=len(args) > 2 and args[2] == "malformed",
        overloaded=overloaded,
        line=args[3] if len(args) > 3 and args[3] else None,
        at=datetime.now().astimezone(),
        recent_calls=recent_calls,
    )


class CallManager:
    """Owns the sessions. `on_event` runs inside the websocket read loop, so it only enqueues."""

    def __init__(
        self,
        directory: Directory,
        settings: CallSettings,
        node: str,
        ari: Callable[[], AriActions],
        emit: Emitter,
        submit_record: Callable[[CallRecord], None],
        close_unobserved: Callable[[set[str]], Awaitable[list[str]]] | None = None,
        outbound: OutboundPolicy | None = None,
        language: str = "zh_CN",
        inbound: InboundPolicy | None = None,
        block: Callable[[BlockEntry], None] | None = None,
        answering: AnsweringPolicy | None = None,
        device_state: Callable[[str], str | None] | None = None,
        pin_lockouts: PinLockouts | None = None,
        charge: Callable[[CallRecord], None] | None = None,
        persist: Persister | None = persist_facts,
        supervision: SupervisionSettings | None = None,
    ) -> None:
        self._close_unobserved = close_unobserved
        self._ctx = SessionContext(
            directory=directory,
            settings=settings,
            node=node,
            ari=ari,
            emit=emit,
            submit_record=submit_record,
            register_channel=self._register,
            forget=self._forget,
            outbound=outbound,
            guard=TollFraudGuard(outbound.settings.toll_guard) if outbound is not None else None,
            language=language,
            inbound=inbound,
            block=block,
            answering=answering,
            device_state=device_state,
            # OUT-3: without a store (tests) lockouts still hold, in memory.
            pin_lockouts=pin_lockouts or (PinLockouts(pin_guard(outbound.settings)) if outbound else None),
            charge=charge,  # LOG-4: the BudgetKeeper counts each priced call at once
            persist=persist,  # the call's facts kept in Asterisk, for re-adoption
            supervision=supervision,  # LOG-6: a sample of outside calls announced and recorded
        )
        self._repeat = RepeatCallers(inbound.settings.auto_block_window_min * 60 if inbound else 600.0)
        self._by_channel: dict[str, CallSession] = {}
        self._sessions: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def remember_outside_calls(self, calls: list[tuple[str, float]]) -> None:
        """SEC-3's hourly counts survive a restart: (line, monotonic start) of recent outside calls."""
        if self._ctx.guard is not None:
            for line, started in calls:
                self._ctx.guard.remember(line, started)

    def live_records(self) -> list[CallRecord]:
        """The records of the calls in progress (LOG-4 estimates their cost so far)."""
        return [session.record for session in self._sessions.values()]

    @property
    def active_calls(self) -> int:
        return len(self._sessions)

    def call_states(self) -> list[str]:
        """The state of every call in progress (the `callguard_calls` gauge)."""
        return [str(session.state) for session in self._sessions.values()]

    def _register(self, channel_id: str, session: CallSession) -> None:
        self._by_channel[channel_id] = session

    def _forget(self, session: CallSession) -> None:
        """A finished call leaves nothing mapped: every leg of every hop, transfers included."""
        self._sessions.pop(session.call_id, None)
        for channel_id in session.channels:
            if self._by_channel.get(channel_id) is session:
                del self._by_channel[channel_id]

    @property
    def mapped_channels(self) -> int:
        return len(self._by_channel)

    def _spawn(self, session: CallSession) -> None:
        self._sessions[session.call_id] = session
        self._register(session.caller_channel, session)
        task = asyncio.create_task(session.run(), name=f"call-{session.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call.session_crashed", task=task.get_name(), error=repr(task.exception()))

    def _note_caller(self, channel: ev.Channel) -> int:
        """SEC-1 counts every call from an outside number in its normal form, so that a caller
        whose trunk alternates +86..., 0086... and 138... is one caller; callers without a
        number are never counted (they are not one person)."""
        raw = channel.caller_number
        inbound = self._ctx.inbound
        number = inbound.caller_key(raw) if inbound is not None else raw or None
        return self._repeat.note(number, time.monotonic()) if number else 0

    def on_event(self, raw: JSON) -> None:
        """Parse an ARI message once; a new call gets a session, any other event goes to the
        session of the channel it is about."""
        event = ev.parse(raw)
        if event is None:
            return
        log.debug("ari.event", type=type(event).__name__, channel=event.channel_id)
        if isinstance(event, ev.StasisStarted):
            args, channel = event.args, event.channel
            if args and args[0] in DIRECTIONS and channel.id not in self._sessions:
                in_setup = sum(1 for s in self._sessions.values() if s.in_setup)
                overloaded = in_setup >= self._ctx.settings.max_calls_in_setup
                recent = self._note_caller(channel) if args[0] == "inbound" else 0
                self._spawn(CallSession(self._ctx, channel, _request(channel, args, overloaded, recent)))
                return
        session = self._by_channel.get(event.channel_id)
        if session is not None:
            session.enqueue(event)

    async def adopt(self, client: AriClient) -> None:
        """After (re)connecting: resync known calls and take over calls left in Stasis."""
        try:
            await client.filter_events(EVENT_TYPES)
        except AriError as exc:
            log.warning("ari.filter_failed", error=str(exc))
        try:
            app = await client.application()
        except AriError as exc:
            log.warning("calls.adopt_failed", error=str(exc))
            return
        for session in list(self._sessions.values()):
            session.enqueue(ev.Resync())
        callers, legs = await strays(client, [str(c) for c in app.get("channel_ids", [])], self._by_channel)
        for channel, args in callers:
            found = await adoption_of(client, channel, legs.pop(channel.id, []))
            if channel.id in self._sessions:
                # A new call whose StasisStart came in while adoption asked about it (the
                # answer to the application listing can overtake the event): it has its session.
                continue
            self._spawn(CallSession(self._ctx, channel, _request(channel, args), found))
        await clean_orphans(client, app, legs, self._sessions)
        if callers:
            log.info("calls.adopted", count=len(callers))
        if self._close_unobserved is not None:
            gone = await self._close_unobserved(set(self._sessions))
            if self._ctx.persist is not None:
                await forget_facts(client, gone)

    async def shutdown(self) -> None:
        """Stop the workers; calls stay up in Asterisk and a later callguard re-adopts them."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
