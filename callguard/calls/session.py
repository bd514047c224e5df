"""One call, one session: an explicit state machine driven by ARI events on its own queue.

The session asks `policy.decide_call` where the call goes and executes the
answer; it holds no rules. What it must remember across a callguard restart
lives in Asterisk (the leg's channel id is derived from the call id, the
answer time is a channel variable), so a new process can re-adopt the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import structlog

from callguard.ari.client import AriError, AriGone
from callguard.calls.records import CallRecord, LegRecord
from callguard.config import CallSettings
from callguard.policy import (
    BlockEntry,
    CallRequest,
    DialOut,
    Directory,
    InboundPolicy,
    OutboundPolicy,
    Party,
    Refuse,
    Route,
    TollFraudGuard,
    decide_call,
)

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

# What an answered caller hears while the far end rings (a 183/180 carries ringback otherwise).
RINGBACK_MEDIA = "tone:ring;tonezone=cn"
# A prompt that never reports its end must not hold the call.
PROMPT_MAX_S = 60.0
PIN_MAX_DIGITS = 12
MATTER_MAX_DIGITS = 8
MATTER_ATTEMPTS = 2


class CallerGone(Exception):
    """The caller hung up while callguard was talking to them (prompt, PIN, matter code)."""

    def __init__(self, event: JSON) -> None:
        super().__init__("caller hung up")
        self.event = event


class CallState(StrEnum):
    new = "new"
    announcing = "announcing"  # a refusal prompt plays before the hangup
    authorizing = "authorizing"  # PIN / matter code by DTMF (OUT-3), reminders (OUT-7)
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
    async def progress(self, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str, playback_id: str, lang: str) -> None: ...
    async def stop_playback(self, playback_id: str) -> None: ...
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
    outbound: OutboundPolicy | None = None
    guard: TollFraudGuard | None = None
    language: str = "zh_CN"
    inbound: InboundPolicy | None = None
    block: Callable[[BlockEntry], None] | None = None  # SEC-1: store an automatic block


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
        self._leg_timeout_s = 0
        self._dial_out: DialOut | None = None
        self._caller_answered = False
        self._ringback_playing = False
        self._dtmf: list[str] = []  # digits typed ahead of the prompt that asks for them
        self._playbacks = 0
        self._timers: list[asyncio.Task[None]] = []
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
                for timer in self._timers:
                    timer.cancel()
                if self.ctx.guard is not None:
                    self.ctx.guard.release(self.call_id)
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
            self.ctx.directory,
            self.request,
            no_answer_timeout_s=self.ctx.settings.no_answer_timeout_s,
            outbound=self.ctx.outbound,
            inbound=self.ctx.inbound,
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
        try:
            if isinstance(decision, Refuse):
                await self._refuse(decision)
            elif isinstance(decision, DialOut):
                await self._place_outside_call(decision)
            else:
                await self._route(decision)
        except CallerGone as gone:
            await self._handle(gone.event)

    async def _refuse(self, decision: Refuse) -> None:
        """Refuse the call; with a prompt, the caller hears why (early media) before the SIP error."""
        self.record.disposition = decision.reason
        self.record.hangup_cause, self.record.hangup_by = decision.cause, "callguard"
        if decision.number_class is not None:
            self.record.direction, self.record.number_class = "outbound", decision.number_class
        if decision.violation is not None:
            self._add_violation(decision.violation.as_dict())
        if decision.new_block is not None and self.ctx.block is not None:
            self.ctx.block(decision.new_block)
            until = decision.new_block.until
            self._emit(
                "alert.caller_blocked",
                caller=decision.new_block.pattern,
                reason=decision.new_block.reason,
                until=until.isoformat() if until else None,
                rule="SEC-1",
            )
        if decision.prompt is not None:
            self.state = CallState.announcing
            if not self._caller_answered:
                await self._act("progress", lambda a: a.progress(self.caller_id))
            await self._play(decision.prompt)
        self.state = CallState.ending
        await self._act("hangup", lambda a: a.hangup(self.caller_id, decision.cause))

    def _add_violation(self, violation: dict[str, Any]) -> None:
        violation["at"] = datetime.now(UTC).isoformat()
        self.record.violations.append(violation)
        self._emit("call.violation", **{k: v for k, v in violation.items() if k != "at"})

    async def _route(self, route: Route) -> None:
        await self._create_leg(
            f"PJSIP/{route.target}", self.ctx.directory.party(route.target), route.timeout_s
        )

    async def _place_outside_call(self, dial: DialOut) -> None:
        """OUT-1..7: the decision said this outside call may go, possibly after a PIN and a
        matter code; SEC-3's counters have the last word before the trunk is seized."""
        assert self.ctx.outbound is not None
        self._dial_out = dial
        self.record.direction = "outbound"
        self.record.number_class = dial.number_class
        self.record.callee = Party(number=dial.number)
        guard = self.ctx.guard
        if guard is not None and not dial.emergency:
            over = guard.admit(self.call_id, self.request.from_line, time.monotonic())
            if over is not None:
                self._emit("alert.toll_fraud", ext=self.request.from_line, dialed=dial.number, reason=over)
                await self._refuse(self.ctx.outbound.toll_refused(self.request, over))
                return
        if dial.needs_pin or dial.needs_matter:
            self.state = CallState.authorizing
            await self._act("answer", lambda a: a.answer(self.caller_id))
            self._caller_answered = True
            if dial.needs_pin:
                owner = await self._ask_pin(dial)
                if owner is None:
                    await self._refuse(self.ctx.outbound.pin_refused(self.request, dial))
                    return
                self.record.authorized_by = owner
                self._emit("call.authorized", ext=self.request.from_line, person=owner, rule="OUT-3")
            if dial.needs_matter:
                matter = await self._ask_matter()
                if matter is None:
                    await self._refuse(self.ctx.outbound.no_matter(self.request))
                    return
                self.record.matter = matter
        if dial.reminder is not None:
            self.state = CallState.authorizing
            if not self._caller_answered:
                await self._act("progress", lambda a: a.progress(self.caller_id))
            await self._play(dial.reminder)
        await self._create_leg(f"PJSIP/{dial.number}@{dial.trunk}", Party(number=dial.number), dial.timeout_s)

    # --- talking to the caller: prompts and DTMF ----------------------------------------------

    async def _next_event(self, timeout: float) -> JSON | None:
        """The next event while callguard talks to the caller; the caller leaving ends the talk."""
        try:
            event = await asyncio.wait_for(self.queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return None
        kind = event.get("type")
        channel_id = (event.get("channel") or {}).get("id")
        if kind in ("StasisEnd", "ChannelDestroyed") and channel_id == self.caller_id:
            raise CallerGone(event)
        if kind == "ChannelHangupRequest" and event.get("cause") and channel_id:
            self._causes.setdefault(channel_id, event["cause"])
        return event

    async def _play(self, prompt: str, barge_in: bool = False) -> None:
        """Play a prompt to the caller and wait for its end. With `barge_in`, a digit stops it
        (and is kept for the question that follows); digits typed ahead skip it."""
        if barge_in and self._dtmf:
            return
        self._playbacks += 1
        playback_id = f"{self.call_id}-play{self._playbacks}"
        media = f"sound:callguard/{prompt}"
        started = await self._act(
            "play", lambda a: a.play(self.caller_id, media, playback_id, self.ctx.language)
        )
        self._emit("call.prompt", prompt=prompt, playback_id=playback_id)
        if not started:
            return
        deadline = time.monotonic() + PROMPT_MAX_S
        stopping = False
        while (event := await self._next_event(deadline - time.monotonic())) is not None:
            kind = event.get("type")
            if kind == "PlaybackFinished" and (event.get("playback") or {}).get("id") == playback_id:
                return
            if kind == "ChannelDtmfReceived":
                self._dtmf.append(str(event.get("digit", "")))
                if barge_in and not stopping:
                    stopping = True
                    await self._act("stop_playback", lambda a: a.stop_playback(playback_id))

    async def _collect(self, max_digits: int) -> str:
        """Digits up to `#` (or `max_digits`, or a pause of `digit_timeout_s`)."""
        assert self.ctx.outbound is not None
        timeout = self.ctx.outbound.settings.digit_timeout_s
        digits = ""
        while True:
            if self._dtmf:
                digit = self._dtmf.pop(0)
            else:
                event = await self._next_event(timeout)
                if event is None:
                    return digits
                if event.get("type") != "ChannelDtmfReceived":
                    continue
                digit = str(event.get("digit", ""))
            if digit == "#":
                return digits
            digits += digit
            if len(digits) >= max_digits:
                return digits

    async def _ask_pin(self, dial: DialOut) -> str | None:
        """OUT-3: the owner of a valid PIN whose class covers the call, or None after the last try.
        PINs are never logged or recorded; only their owner is."""
        outbound = self.ctx.outbound
        assert outbound is not None
        attempts = outbound.settings.pin_attempts
        for attempt in range(1, attempts + 1):
            await self._play("enter_pin", barge_in=True)
            pin = await self._collect(PIN_MAX_DIGITS)
            owner = await asyncio.to_thread(outbound.pins.owner, pin) if pin else None
            if owner is not None and outbound.pin_covers(dial, owner):
                return owner
            why = "no_pin" if not pin else ("unknown_pin" if owner is None else "pin_class_too_low")
            self._emit(
                "call.pin_rejected", ext=self.request.from_line, attempt=attempt, reason=why, rule="OUT-3"
            )
            self._dtmf.clear()  # nothing typed after a wrong code counts towards the next one
            await self._play("pin_wrong")
        return None

    async def _ask_matter(self) -> str | None:
        for _ in range(MATTER_ATTEMPTS):
            await self._play("enter_matter", barge_in=True)
            matter = await self._collect(MATTER_MAX_DIGITS)
            if matter:
                return matter
        return None

    # --- ringing the callee ---------------------------------------------------------------

    async def _create_leg(self, endpoint: str, callee: Party, timeout_s: int) -> None:
        self.record.callee = callee
        self.callee_leg = LegRecord(role="callee", channel_id=self.leg_id, number=callee.number)
        self.record.legs.append(self.callee_leg)
        # Register before creating: the leg's StasisStart can arrive before the REST answer.
        self.ctx.register_channel(self.leg_id, self)
        self._alive.add(self.leg_id)
        caller = self.record.caller
        variables = {VAR_CALL_ID: self.call_id, "CALLERID(num)": caller.number}
        if caller.name:
            variables["CALLERID(name)"] = caller.name
        self.state = CallState.creating
        self._leg_timeout_s = timeout_s
        self.ctx.submit_record(self.record.provisional())
        created = await self._act(
            "create_leg",
            lambda a: a.create_channel(
                endpoint, self.leg_id, f"leg,{self.call_id}", self.caller_id, variables
            ),
        )
        if not created:
            await self._fail()
        # Dialling waits for the leg's StasisStart: before it, Asterisk answers 409 to /dial.

    async def _dial(self) -> None:
        assert self.callee_leg is not None
        timeout_s = self._leg_timeout_s
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
        elif kind == "CallguardTimer":
            await self._on_timer(str(event.get("name")))

    async def _on_dial(self, event: JSON) -> None:
        status = event.get("dialstatus")
        at = parse_time(event.get("timestamp")) or datetime.now(UTC)
        if status == "RINGING" and self.state is CallState.dialing and self.callee_leg:
            self.state = CallState.ringing
            self.callee_leg.ringing_at = self.caller_leg.ringing_at = self.record.ringing_at = at
            self._emit("call.ringing", ext=self.callee_leg.number)
            if self._caller_answered:  # a caller answered for a PIN hears ringback as a tone
                self._ringback_playing = await self._act(
                    "ringback",
                    lambda a: a.play(self.caller_id, RINGBACK_MEDIA, self.call_id + "-ringback", "en"),
                )
            else:
                await self._act("ring", lambda a: a.ring(self.caller_id))
        elif status == "ANSWER" and self.state in (CallState.dialing, CallState.ringing):
            await self._connect(at)

    async def _connect(self, at: datetime) -> None:
        assert self.callee_leg is not None
        self.state = CallState.talking
        self.callee_leg.answered_at = self.caller_leg.answered_at = self.record.answered_at = at
        self.record.disposition = "answered"
        if self._ringback_playing:
            await self._act("stop_ringback", lambda a: a.stop_playback(self.call_id + "-ringback"))
        if not self._caller_answered:
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
        self._start_duration_timers(at)

    # --- OUT-4: how long an outside call may last ----------------------------------------------

    def _start_duration_timers(self, answered_at: datetime) -> None:
        duration = self._dial_out.duration if self._dial_out else None
        if duration is None:
            return
        # Counted from the answer, so that a call re-adopted after a restart keeps its deadline.
        elapsed = (datetime.now(UTC) - answered_at).total_seconds()
        warn_at = duration.limit_s - duration.warn_before_s
        if elapsed < warn_at:
            self._start_timer("duration_warning", warn_at - elapsed)
        self._start_timer("duration_limit", max(0.0, duration.limit_s - elapsed))

    def _start_timer(self, name: str, after_s: float) -> None:
        async def fire() -> None:
            await asyncio.sleep(after_s)
            self.enqueue({"type": "CallguardTimer", "name": name})

        self._timers.append(asyncio.create_task(fire(), name=f"{self.call_id}-{name}"))

    async def _on_timer(self, name: str) -> None:
        dial, outbound = self._dial_out, self.ctx.outbound
        if self.state is not CallState.talking or dial is None or dial.duration is None or outbound is None:
            return
        if name == "duration_warning":
            # Only the employee hears it: the playback targets their channel, not the bridge.
            self._playbacks += 1
            playback_id = f"{self.call_id}-play{self._playbacks}"
            await self._act(
                "play",
                lambda a: a.play(
                    self.caller_id, "sound:callguard/duration_warning", playback_id, self.ctx.language
                ),
            )
            self._emit(
                "call.duration_warning",
                ext=self.request.from_line,
                limit_s=dial.duration.limit_s,
                rule="OUT-4",
                playback_id=playback_id,
            )
        elif name == "duration_limit":
            self._add_violation(outbound.over_duration(self.request, dial).as_dict())
            if dial.duration.hard_cap:
                self.record.decisions.append({"action": "hangup", "reason": "duration_cap", "rule": "OUT-4"})
                self.record.hangup_by, self.record.hangup_cause = "callguard", CAUSE_NORMAL
                self.state = CallState.ending
                await self._act("hangup_leg", lambda a: a.hangup(self.leg_id, CAUSE_NORMAL))
                await self._act("hangup", lambda a: a.hangup(self.caller_id, CAUSE_NORMAL))

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
        if self.state in (CallState.announcing, CallState.authorizing, CallState.new):
            if self.state is not CallState.announcing:
                self.record.disposition = "abandoned"
                self.record.hangup_by = "caller"
                self.record.hangup_cause = cause
            self.state = CallState.ending
        elif self.state in (CallState.creating, CallState.dialing, CallState.ringing):
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
        callee = self.ctx.directory.party(route_target)
        # The decision is pure and the request unchanged: an outside call gets its class, its
        # OUT-4 limits and its place in the SEC-3 counters back (not who authorised it).
        decision = decide_call(
            self.ctx.directory,
            self.request,
            no_answer_timeout_s=self.ctx.settings.no_answer_timeout_s,
            outbound=self.ctx.outbound,
            inbound=self.ctx.inbound,
        )
        if isinstance(decision, DialOut):
            self._dial_out = decision
            self.record.direction, self.record.number_class = "outbound", decision.number_class
            callee = Party(number=decision.number)
            if self.ctx.guard is not None and not decision.emergency:
                self.ctx.guard.admit(self.call_id, self.request.from_line, time.monotonic())
        self._caller_answered = adoption.caller_up
        self.record.callee = callee
        self.callee_leg = LegRecord(role="callee", channel_id=self.leg_id, number=callee.number)
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
            self._start_duration_timers(adoption.answered_at)
        elif leg_state == "Up":
            await self._connect(datetime.now(UTC))  # answered while callguard was away
        else:
            self.state = CallState.ringing if leg_state == "Ringing" else CallState.dialing
        await self._resync()
