"""One call, one session: an explicit state machine driven by ARI events on its own queue.

The session asks `policy.decide_call` where the call goes and executes the
answer; it holds no rules. What it must remember across a callguard restart
lives in Asterisk (the leg's channel id is derived from the call id, the
answer time is a channel variable), so a new process can re-adopt the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import structlog

from callguard.ari.client import AriError, AriGone
from callguard.calls.records import CallRecord, LegRecord
from callguard.config import CallSettings
from callguard.policy import CallRequest, Directory, Refuse, Route, decide_call

log = structlog.get_logger("callguard.calls")

JSON = dict[str, Any]

# Q.850 causes used when callguard ends a leg itself.
CAUSE_NORMAL = 16
CAUSE_CONGESTION = 34

# How a callee leg that ended before answer explains the call (Q.850 cause → disposition).
_UNANSWERED = {
    17: "busy",
    21: "declined",
    18: "no_answer",
    19: "no_answer",
    3: "unavailable",
    20: "unavailable",
    27: "unavailable",
    38: "unavailable",
}

# Set on each leg for operators reading `core show channel`; adoption goes by ids alone.
VAR_CALL_ID = "CG_CALL_ID"
LEG_SUFFIX = "-leg1"
BRIDGE_PREFIX = "cg-"

# With no event for this long, ask Asterisk how the channels are: a missed event
# must not keep a session (and its record) open forever.
RESYNC_AFTER_S = 60.0


class CallState(StrEnum):
    new = "new"
    creating = "creating"
    dialing = "dialing"
    ringing = "ringing"
    talking = "talking"
    ending = "ending"
    done = "done"


class AriActions(Protocol):
    """The ARI operations a session performs (AriClient, or a fake in unit tests)."""

    async def create_channel(
        self, endpoint: str, channel_id: str, app_args: str, originator: str, variables: dict[str, str]
    ) -> JSON: ...
    async def dial(self, channel_id: str, caller: str, timeout_s: int) -> None: ...
    async def ring(self, channel_id: str) -> None: ...
    async def answer(self, channel_id: str) -> None: ...
    async def hangup(self, channel_id: str, cause: int | None = None) -> None: ...
    async def get_channel(self, channel_id: str) -> JSON: ...
    async def create_bridge(self, bridge_id: str) -> None: ...
    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...


class Emitter(Protocol):
    def __call__(self, event: str, /, **fields: Any) -> None: ...


@dataclass(frozen=True)
class SessionContext:
    """What every session shares: the directory, settings and the outside world's ports."""

    directory: Directory
    settings: CallSettings
    node: str
    ari: Callable[[], AriActions]
    emit: Emitter
    submit_record: Callable[[CallRecord], None]
    register_channel: Callable[[str, CallSession], None]
    forget: Callable[[CallSession], None]


@dataclass(frozen=True)
class Adoption:
    """What Asterisk still knows about a call that a previous callguard process handled."""

    leg: JSON | None
    answered_at: datetime | None
    caller_up: bool


def parse_time(value: object) -> datetime | None:
    """ARI timestamps look like 2026-11-22T20:06:36.452+0000."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def leg_channel_id(call_id: str) -> str:
    return call_id + LEG_SUFFIX


def bridge_id_for(call_id: str) -> str:
    return BRIDGE_PREFIX + call_id


class CallSession:
    def __init__(
        self,
        ctx: SessionContext,
        caller_channel: JSON,
        request: CallRequest,
        adoption: Adoption | None = None,
    ) -> None:
        self.ctx = ctx
        self.call_id: str = caller_channel["id"]
        self.caller_id = self.call_id
        self.leg_id = leg_channel_id(self.call_id)
        self.bridge_id = bridge_id_for(self.call_id)
        self.state = CallState.new
        self.queue: asyncio.Queue[JSON] = asyncio.Queue()
        self._adoption = adoption
        self.request = request
        self._bridged = False
        self._alive: set[str] = {self.caller_id}
        self._causes: dict[str, int] = {}
        self._route_decision: Route | None = None
        now = parse_time(caller_channel.get("creationtime")) or datetime.now(UTC)
        self.record = CallRecord(
            call_id=self.call_id,
            node=ctx.node,
            direction=request.direction,
            dialed=request.dialed,
            caller=ctx.directory.party(request.caller),
            started_at=now,
            readopted=adoption is not None,
        )
        self.caller_leg = LegRecord(
            role="caller", channel_id=self.caller_id, number=request.caller, started_at=now
        )
        self.record.legs.append(self.caller_leg)
        self.callee_leg: LegRecord | None = None
        self._log = log.bind(call_id=self.call_id)

    # --- plumbing -------------------------------------------------------------------

    def enqueue(self, event: JSON) -> None:
        self.queue.put_nowait(event)

    def _emit(self, event: str, **fields: Any) -> None:
        self.ctx.emit(event, call_id=self.call_id, **fields)

    @property
    def in_setup(self) -> bool:
        """Not yet ringing: the calls an overloaded PBX has not caught up with."""
        return self.state in (CallState.new, CallState.creating, CallState.dialing)

    async def _act(self, what: str, op: Callable[[AriActions], Any]) -> bool:
        """Run one ARI action; a channel that is already gone is an ordinary outcome."""
        try:
            await op(self.ctx.ari())
            return True
        except AriGone:
            self._log.debug("call.action_gone", action=what)
        except AriError as exc:
            self._log.warning("call.action_failed", action=what, error=str(exc))
        return False

    async def run(self) -> None:
        with structlog.contextvars.bound_contextvars(call_id=self.call_id):
            try:
                if self._adoption is not None:
                    await self._resume(self._adoption)
                else:
                    await self._start()
                while self.state is not CallState.done:
                    try:
                        event = await asyncio.wait_for(self.queue.get(), RESYNC_AFTER_S)
                    except TimeoutError:
                        event = {"type": "CallguardResync"}
                    await self._handle(event)
            except Exception as exc:  # a bug must not leave a call unattended or unrecorded
                self._log.exception("call.session_crashed", error=repr(exc))
                await self._abandon_after_crash(repr(exc))
            finally:
                self.ctx.forget(self)

    async def _hangup_quietly(self, channel_id: str) -> None:
        await self._act("hangup_after_crash", lambda a: a.hangup(channel_id, CAUSE_NORMAL))

    async def _abandon_after_crash(self, error: str) -> None:
        """Fail closed: end both sides, free the bridge, and still write what is known."""
        for channel_id in sorted(self._alive):
            await self._hangup_quietly(channel_id)
        if self._bridged:
            await self._act("destroy_bridge", lambda a: a.destroy_bridge(self.bridge_id))
        self.record.decisions.append({"action": "error", "reason": error})
        self.record.disposition = "error"
        self.record.ended_at = datetime.now(UTC)
        self.state = CallState.done
        self.ctx.submit_record(self.record)

    # --- the state machine ------------------------------------------------------------

    async def _start(self) -> None:
        decision = decide_call(
            self.ctx.directory, self.request, no_answer_timeout_s=self.ctx.settings.no_answer_timeout_s
        )
        self.record.decisions.append(decision.as_dict())
        self._emit(
            "call.started",
            caller=self.record.caller.number,
            dialed=self.record.dialed,
            direction=self.record.direction,
            ext=self.record.caller.number,
        )
        self._emit("call.decision", ext=self.record.caller.number, **decision.as_dict())
        if isinstance(decision, Refuse):
            self.record.disposition = decision.reason
            self.record.hangup_cause, self.record.hangup_by = decision.cause, "callguard"
            self.state = CallState.ending
            await self._act("hangup", lambda a: a.hangup(self.caller_id, decision.cause))
            return
        await self._route(decision)

    async def _route(self, route: Route) -> None:
        callee = self.ctx.directory.party(route.target)
        self.record.callee = callee
        self.callee_leg = LegRecord(role="callee", channel_id=self.leg_id, number=route.target)
        self.record.legs.append(self.callee_leg)
        # Register before creating: the leg's StasisStart can arrive before the REST answer.
        self.ctx.register_channel(self.leg_id, self)
        self._alive.add(self.leg_id)
        caller = self.record.caller
        variables = {VAR_CALL_ID: self.call_id, "CALLERID(num)": caller.number}
        if caller.name:
            variables["CALLERID(name)"] = caller.name
        self.state = CallState.creating
        self._route_decision = route
        self.ctx.submit_record(self.record.provisional())
        created = await self._act(
            "create_leg",
            lambda a: a.create_channel(
                f"PJSIP/{route.target}", self.leg_id, f"leg,{self.call_id}", self.caller_id, variables
            ),
        )
        if not created:
            await self._fail()
        # Dialling waits for the leg's StasisStart: before it, Asterisk answers 409 to /dial.

    async def _dial(self) -> None:
        assert self.callee_leg is not None and self._route_decision is not None
        timeout_s = self._route_decision.timeout_s
        self.state = CallState.dialing
        # The no-answer timeout is Asterisk's own dial timeout: it keeps running if callguard restarts.
        if await self._act("dial", lambda a: a.dial(self.leg_id, self.caller_id, timeout_s)):
            self.callee_leg.started_at = datetime.now(UTC)
            self._emit("call.dialing", ext=self.callee_leg.number, timeout_s=timeout_s)
        else:
            await self._fail()

    async def _fail(self) -> None:
        self.record.disposition = "failed"
        self.state = CallState.ending
        await self._act("hangup_leg", lambda a: a.hangup(self.leg_id))
        await self._act("hangup", lambda a: a.hangup(self.caller_id, CAUSE_CONGESTION))

    async def _handle(self, event: JSON) -> None:
        kind = event.get("type")
        if kind == "StasisStart" and self.state is CallState.creating:
            if (event.get("channel") or {}).get("id") == self.leg_id:
                await self._dial()
        elif kind == "Dial":
            await self._on_dial(event)
        elif kind == "ChannelHangupRequest":
            channel_id = (event.get("channel") or {}).get("id", "")
            if event.get("cause"):
                self._causes.setdefault(channel_id, event["cause"])
        elif kind == "ChannelDestroyed" or (
            kind == "StasisEnd" and (event.get("channel") or {}).get("id") == self.caller_id
        ):
            # The caller leaves callguard at StasisEnd (its dialplan then hangs it up, unseen by
            # ARI), with the cause its hangup request carried. A leg callguard created stays
            # until ChannelDestroyed, whose cause is the final one (a dial timeout requests
            # hangup with 32 but ends with 19 "no answer").
            channel_id = (event.get("channel") or {}).get("id", "")
            cause = event.get("cause") or self._causes.get(channel_id)
            await self._on_destroyed(
                channel_id, cause, event.get("cause_txt"), parse_time(event.get("timestamp"))
            )
        elif kind == "CallguardResync":
            await self._resync()

    async def _on_dial(self, event: JSON) -> None:
        status = event.get("dialstatus")
        at = parse_time(event.get("timestamp")) or datetime.now(UTC)
        if status == "RINGING" and self.state is CallState.dialing and self.callee_leg:
            self.state = CallState.ringing
            self.callee_leg.ringing_at = self.caller_leg.ringing_at = self.record.ringing_at = at
            self._emit("call.ringing", ext=self.callee_leg.number)
            await self._act("ring", lambda a: a.ring(self.caller_id))
        elif status == "ANSWER" and self.state in (CallState.dialing, CallState.ringing):
            await self._connect(at)

    async def _connect(self, at: datetime) -> None:
        assert self.callee_leg is not None
        self.state = CallState.talking
        self.callee_leg.answered_at = self.caller_leg.answered_at = self.record.answered_at = at
        self.record.disposition = "answered"
        await self._act("answer", lambda a: a.answer(self.caller_id))
        self._bridged = await self._act("bridge", lambda a: a.create_bridge(self.bridge_id))
        await self._act(
            "bridge_add", lambda a: a.add_to_bridge(self.bridge_id, [self.caller_id, self.leg_id])
        )
        self._emit(
            "call.answered",
            ext=self.callee_leg.number,
            rings_wait_s=round((at - (self.record.ringing_at or at)).total_seconds(), 3),
        )

    async def _on_destroyed(
        self, channel_id: str, cause: int | None, cause_txt: str | None, at: datetime | None
    ) -> None:
        if channel_id not in self._alive:
            return
        self._alive.discard(channel_id)
        at = at or datetime.now(UTC)
        leg = self.caller_leg if channel_id == self.caller_id else self.callee_leg
        if leg is not None:
            leg.ended_at, leg.hangup_cause, leg.hangup_cause_text = at, cause, cause_txt
        is_caller = channel_id == self.caller_id
        if self.state in (CallState.creating, CallState.dialing, CallState.ringing):
            if is_caller:
                self.record.disposition = "abandoned"
                self.record.hangup_by = "caller"
                await self._act("cancel_leg", lambda a: a.hangup(self.leg_id))
            else:
                self.record.disposition = _UNANSWERED.get(cause or 0, "failed")
                self.record.hangup_by = "callee"
                # The caller hears what the callee's phone said: busy stays busy.
                await self._act("hangup", lambda a: a.hangup(self.caller_id, cause or CAUSE_NORMAL))
            self.record.hangup_cause = cause
            self.state = CallState.ending
        elif self.state is CallState.talking:
            self.record.hangup_by = "caller" if is_caller else "callee"
            self.record.hangup_cause = cause or CAUSE_NORMAL
            self.state = CallState.ending
            other = self.leg_id if is_caller else self.caller_id
            await self._act("hangup_other", lambda a: a.hangup(other, CAUSE_NORMAL))
        if not self._alive:
            await self._finish(at)

    async def _finish(self, at: datetime) -> None:
        if self._bridged:
            await self._act("destroy_bridge", lambda a: a.destroy_bridge(self.bridge_id))
        self.state = CallState.done
        self.record.ended_at = at
        self._emit(
            "call.ended",
            disposition=self.record.disposition,
            hangup_by=self.record.hangup_by,
            hangup_cause=self.record.hangup_cause,
            talk_s=self.record.talk_s,
            ext=self.record.callee.number if self.record.callee else None,
        )
        self.ctx.submit_record(self.record)

    async def _resync(self) -> None:
        """Events may have been missed (disconnect, restart): ask Asterisk what is still alive."""
        for channel_id in sorted(self._alive):
            try:
                await self.ctx.ari().get_channel(channel_id)
            except AriGone:
                self._log.info("call.channel_vanished", channel=channel_id)
                await self._on_destroyed(channel_id, None, "gone while callguard was away", None)
            except AriError:
                return  # Not connected: try again on the next resync.
            if self.state is CallState.done:
                return
        if self.state is CallState.creating and self.leg_id in self._alive:
            # The leg exists but its StasisStart was missed: it was never dialled.
            await self._dial()

    # --- re-adoption after a restart ----------------------------------------------------

    async def _resume(self, adoption: Adoption) -> None:
        self._emit(
            "call.readopted",
            ext=self.record.caller.number,
            dialed=self.record.dialed,
            leg_state=(adoption.leg or {}).get("state"),
        )
        self.record.decisions.append({"action": "readopt", "reason": "callguard restarted"})
        route_target = self.record.dialed
        if adoption.leg is None and adoption.answered_at is None and not adoption.caller_up:
            # Never answered and no leg: route it (again; a leg that rang and ended while
            # callguard was away left no trace, so its callee may ring a second time).
            await self._start()
            return
        self.record.callee = self.ctx.directory.party(route_target)
        self.callee_leg = LegRecord(role="callee", channel_id=self.leg_id, number=route_target)
        self.record.legs.append(self.callee_leg)
        self._bridged = adoption.answered_at is not None
        if adoption.answered_at is not None:
            self.record.answered_at = self.callee_leg.answered_at = adoption.answered_at
            self.caller_leg.answered_at = adoption.answered_at
            self.record.disposition = "answered"
        if adoption.leg is None:
            # The callee's side ended while nobody watched: end the caller's side too.
            self.state = CallState.ending
            await self._act("hangup", lambda a: a.hangup(self.caller_id, CAUSE_NORMAL))
            return
        self.ctx.register_channel(self.leg_id, self)
        self._alive.add(self.leg_id)
        leg_state = adoption.leg.get("state")
        if leg_state == "Up" and adoption.answered_at is not None:
            self.state = CallState.talking
        elif leg_state == "Up":
            await self._connect(datetime.now(UTC))  # answered while callguard was away
        else:
            self.state = CallState.ringing if leg_state == "Ringing" else CallState.dialing
        await self._resync()
