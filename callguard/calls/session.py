"""One call, one session: an explicit state machine driven by ARI events on its own queue.

The session asks `policy.decide_call` where the call goes and executes the
answer; it holds no rules. A decision is a refusal (with its prompt), an outside
call (PIN, matter code, OUT-4 timers) or a ring plan: hops of phones rung in
turn, each cancelled at its ANS-1 limit, ending in an answer, a message or the
callee's cause. Talking to the caller (prompts, DTMF) happens inside the session
with the events that arrive meanwhile kept for later.

What it must remember across a callguard restart lives in Asterisk (leg channel
ids are derived from the call id, `<call>-leg<N>`; the bridge `cg-<call>` is the
answer's record), so a new process can re-adopt the call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import structlog

from callguard.ari.client import AriError, AriGone
from callguard.calls.pin_lockouts import PinLockouts
from callguard.config import CallSettings
from callguard.policy import (
    AnsweringPolicy,
    BlockEntry,
    CallRequest,
    Decision,
    DialOut,
    Directory,
    Hop,
    InboundPolicy,
    OutboundPolicy,
    Party,
    Refuse,
    Route,
    TollFraudGuard,
    calling_party,
    decide_call,
)
from callguard.policy.tariffs import rate_call
from callguard.records import CallRecord, LegRecord

log = structlog.get_logger("callguard.calls")

JSON = dict[str, Any]

# Q.850 causes used when callguard ends a leg itself.
CAUSE_NORMAL = 16
CAUSE_NO_ANSWER = 19  # a ring limit passed (ANS-1): the phone gets a CANCEL
CAUSE_ANSWERED_ELSEWHERE = 26  # another phone of the hop answered
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
LEG_SUFFIX = "-leg1"  # the first leg; a ring plan's further legs are -leg2, -leg3, ...
LEG_MARK = "-leg"
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


_PENDING = ("creating", "dialing", "ringing")  # a leg not yet answered, cancelled or gone


@dataclass
class _Leg:
    """One phone callguard rings for a call."""

    id: str
    target: str
    record: LegRecord
    hop_index: int
    hop: Hop
    state: str = "creating"  # creating, dialing, ringing, then up, cancelled, offline or gone
    late: bool = False  # still ringing past its ANS-1 limit
    idle_before: bool = False  # AMI said the phone was idle before it rang (ANS-6)


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
    async def record(self, channel_id: str, name: str, max_s: int) -> None: ...
    async def answer(self, channel_id: str) -> None: ...
    async def hangup(self, channel_id: str, cause: int | None = None) -> None: ...
    async def get_channel(self, channel_id: str) -> JSON: ...
    async def create_bridge(self, bridge_id: str) -> None: ...
    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
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
    answering: AnsweringPolicy | None = None
    device_state: Callable[[str], str | None] | None = None  # AMI: "NOT_INUSE", "INUSE", ...
    pin_lockouts: PinLockouts | None = None  # OUT-3: wrong codes across calls lock PIN entry
    charge: Callable[[CallRecord], None] | None = None  # LOG-4: a priced call counts at once


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


def leg_channel_id(call_id: str, n: int = 1) -> str:
    return f"{call_id}{LEG_MARK}{n}"


def _leg_number(leg_id: str) -> int:
    tail = leg_id.rsplit(LEG_MARK, 1)[-1]
    return int(tail) if tail.isdigit() else 1


def _leg_target(channel: JSON, dial_out: DialOut | None) -> str | None:
    """The extension (or outside number) a leg rings, from its name: PJSIP/<endpoint>-<n>."""
    if dial_out is not None:
        return dial_out.number
    name = str(channel.get("name", ""))
    endpoint = name.split("/", 1)[-1].rsplit("-", 1)[0] if "/" in name else ""
    return endpoint or None


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
        self._legs: dict[str, _Leg] = {}
        self._leg_seq = 0
        self._hops: tuple[Hop, ...] = ()
        self._hop_index = -1
        self._last_cause: int | None = None
        self._message_for: str | None = None
        self._greeting_on_answer: str | None = None
        self._backlog: deque[JSON] = deque()  # events that arrived while a prompt played
        self._transfer: _Leg | None = None  # XFER-2: the phone a call is being handed to
        # The two channels talking are `_kept_id` and `leg_id`; a transfer replaces the one who
        # typed the code (`_holder`) by the target. `_kept_id` starts as the caller's channel.
        self._kept_id = self.caller_id
        self._holder: str | None = None
        # DTMF typed during the call, per channel: the transfer code is parsed from each side
        # separately, so that only an employee's keys can start a transfer (XFER-2).
        self._feature: dict[str, str] = {}
        self.channels: set[str] = {self.caller_id}  # every channel id routed to this session
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
            caller=calling_party(ctx.directory, request),
            line=request.line if request.direction == "internal" else None,
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

    def _register(self, channel_id: str) -> None:
        """Route `channel_id`'s events here; the manager forgets all of them when the call ends."""
        self.channels.add(channel_id)
        self.ctx.register_channel(channel_id, self)

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
                    if self._backlog:
                        event = self._backlog.popleft()
                    else:
                        try:
                            event = await asyncio.wait_for(self.queue.get(), RESYNC_AFTER_S)
                        except TimeoutError:
                            event = {"type": "CallguardResync"}
                    try:
                        await self._handle(event)
                    except CallerGone as gone:  # during a prompt played while the call went on
                        await self._handle(gone.event)
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

    def _decide(self) -> Decision:
        return decide_call(
            self.ctx.directory,
            self.request,
            no_answer_timeout_s=self.ctx.settings.no_answer_timeout_s,
            outbound=self.ctx.outbound,
            inbound=self.ctx.inbound,
            answering=self.ctx.answering,
        )

    async def _start(self) -> None:
        decision = self._decide()
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
            self._note_refusal(decision)
        elif isinstance(decision, DialOut):
            self._note_dial_out(decision)
        else:
            self.record.callee = self.ctx.directory.party(decision.target)
        # LOG-1: a record exists from the first decision, so that a refused or abandoned call
        # leaves one even if callguard dies before the call ends (closed as ended_unobserved).
        self.ctx.submit_record(self.record.provisional())
        try:
            if isinstance(decision, Refuse):
                await self._refuse(decision, noted=True)
            elif isinstance(decision, DialOut):
                await self._place_outside_call(decision)
            else:
                await self._route(decision)
        except CallerGone as gone:
            await self._handle(gone.event)

    def _note_dial_out(self, dial: DialOut) -> None:
        self.record.direction = "outbound"
        self.record.number_class = dial.number_class
        self.record.callee = Party(number=dial.number)
        self.record.budget = dial.budget  # LOG-4: the register names the budget charged

    def _note_refusal(self, decision: Refuse) -> None:
        """What a refusal leaves on the record: its reason, cause, violation and SEC-1 block."""
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

    async def _refuse(self, decision: Refuse, noted: bool = False) -> None:
        """Refuse the call; with a prompt, the caller hears why (early media) before the SIP error."""
        if not noted:
            self._note_refusal(decision)
            if decision.prompt is not None:  # the announcement takes seconds: keep the violation safe
                self.ctx.submit_record(self.record.provisional())
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
        self.record.callee = self.ctx.directory.party(route.target)
        self._message_for = route.message_for
        self._greeting_on_answer = route.greeting_on_answer
        if route.greeting is not None:
            # ANS-4: the outside caller hears the greeting of the number dialled before it rings.
            self.state = CallState.authorizing
            await self._act("progress", lambda a: a.progress(self.caller_id))
            await self._play(route.greeting)
        hops = route.hops or (Hop((route.target,), 0, 0.0, False, "person"),)
        await self._ring(hops, route.timeout_s)

    async def _place_outside_call(self, dial: DialOut) -> None:
        """OUT-1..7: the decision said this outside call may go, possibly after a PIN and a
        matter code; SEC-3's counters have the last word before the trunk is seized."""
        assert self.ctx.outbound is not None
        self._dial_out = dial
        self._note_dial_out(dial)
        guard = self.ctx.guard
        if guard is not None and not dial.emergency:
            over = guard.admit(self.call_id, self.request.from_line, time.monotonic())
            if over is not None:
                self._emit("alert.toll_fraud", ext=self.request.from_line, dialed=dial.number, reason=over)
                await self._refuse(self.ctx.outbound.toll_refused(self.request, over))
                return
        if dial.needs_pin and (until := self._pin_locked_until()) is not None:
            # OUT-3 lockout: the caller hears the refusal at once; no code is asked for.
            await self._refuse(self.ctx.outbound.pin_locked(self.request, until))
            return
        if dial.needs_pin or dial.needs_matter:
            self.state = CallState.authorizing
            await self._act("answer", lambda a: a.answer(self.caller_id))
            self._caller_answered = True
            if dial.needs_pin:
                owner = await self._ask_pin(dial)
                if isinstance(owner, Refuse):
                    await self._refuse(owner)
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
        await self._ring((Hop((dial.number,), 0, 0.0, False, "outside"),), dial.timeout_s)

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
            if kind == "ChannelDtmfReceived" and (event.get("channel") or {}).get("id") == self.caller_id:
                self._dtmf.append(str(event.get("digit", "")))
                if barge_in and not stopping:
                    stopping = True
                    await self._act("stop_playback", lambda a: a.stop_playback(playback_id))
            elif kind != "PlaybackFinished":
                self._backlog.append(event)  # a leg's events: handled once the prompt is over

    async def _play_both(self, caller_prompt: str, leg_id: str, leg_prompt: str) -> None:
        """Two prompts at once: one to the caller, one to the answered leg; wait for both."""
        first = await self._play_to(self.caller_id, caller_prompt)
        second = await self._play_to(leg_id, leg_prompt)
        await self._wait_playbacks({i for i in (first, second) if i is not None})

    async def _wait_playbacks(self, pending: set[str]) -> None:
        deadline = time.monotonic() + PROMPT_MAX_S
        while pending and (event := await self._next_event(deadline - time.monotonic())) is not None:
            if event.get("type") == "PlaybackFinished":
                pending.discard(str((event.get("playback") or {}).get("id")))
            elif event.get("type") != "ChannelDtmfReceived":
                self._backlog.append(event)
                if event.get("type") == "ChannelDestroyed":
                    return  # someone left: the event, handled next, ends or changes the call

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

    async def _ask_pin(self, dial: DialOut) -> str | Refuse:
        """OUT-3: the owner of a valid PIN whose class covers the call, or the refusal after the
        last try or when wrong codes lock PIN entry. PINs are never logged or recorded."""
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
            # Only a wrong code is a guess; nothing typed, or a real code of too low a class, is not.
            if why == "unknown_pin" and (until := self._pin_failed()) is not None:
                return outbound.pin_locked(self.request, until)
            self._dtmf.clear()  # nothing typed after a wrong code counts towards the next one
            await self._play("pin_wrong")
        return outbound.pin_refused(self.request, dial)

    def _pin_holder(self) -> tuple[str, str | None]:
        """Whose PIN entry a lockout counts: the line, and the person who owns it."""
        line = self.request.from_line
        return line or "unknown", self.ctx.directory.party(line).person if line else None

    def _pin_locked_until(self) -> datetime | None:
        lockouts = self.ctx.pin_lockouts
        return lockouts.locked(*self._pin_holder(), datetime.now(UTC)) if lockouts else None

    def _pin_failed(self) -> datetime | None:
        """Count a wrong code; announce a lockout it starts; until when entry is locked now."""
        lockouts = self.ctx.pin_lockouts
        if lockouts is None:
            return None
        line, person = self._pin_holder()
        now = datetime.now(UTC)
        started = lockouts.failed(line, person, self.call_id, now)
        if started is not None:
            until = started.until.isoformat()
            self._emit("alert.pin_lockout", ext=line, person=person, until=until, rule="OUT-3")
        return lockouts.locked(line, person, now)

    async def _ask_matter(self) -> str | None:
        for _ in range(MATTER_ATTEMPTS):
            await self._play("enter_matter", barge_in=True)
            matter = await self._collect(MATTER_MAX_DIGITS)
            if matter:
                return matter
        return None

    # --- ringing the callees: one or more hops of one or more legs (ANS-1, ANS-3, XFER-1) ------

    def _endpoint(self, target: str, hop: Hop) -> str:
        # Only the outside call's own hop goes through the trunk; a transfer target is always
        # an extension (XFER-2), so no key typed mid-call can seize the trunk.
        if self._dial_out is not None and hop.reason == "outside":
            return f"PJSIP/{target}@{self._dial_out.trunk}"
        return f"PJSIP/{target}"

    async def _ring(self, hops: tuple[Hop, ...], timeout_s: int) -> None:
        """Start the ring plan: its hops ring in turn until someone answers."""
        self._hops, self._leg_timeout_s = hops, timeout_s
        self.state = CallState.creating
        self.ctx.submit_record(self.record.provisional())
        await self._next_hop()

    async def _next_hop(self) -> None:
        while True:
            self._hop_index += 1
            if self._hop_index >= len(self._hops):
                await self._nobody_answered()
                return
            hop = self._hops[self._hop_index]
            if len(self._hops) > 1:
                self._emit(
                    "call.hop",
                    hop=self._hop_index + 1,
                    targets=list(hop.targets),
                    reason=hop.reason,
                    rings=hop.rings,
                    rule="XFER-1" if hop.reason == "assistant" else "ANS-3",
                )
            for target in hop.targets:
                await self._create_leg(target, hop)
            if any(leg.state != "gone" for leg in self._hop_legs()):
                return
            # Nobody of this hop could even be called (offline): the next one, at once.

    def _hop_legs(self) -> list[_Leg]:
        return [leg for leg in self._legs.values() if leg.hop_index == self._hop_index]

    async def _create_leg(self, target: str, hop: Hop, presenting: str | None = None) -> None:
        self._leg_seq += 1
        leg_id = leg_channel_id(self.call_id, self._leg_seq)
        record = LegRecord(role="callee", channel_id=leg_id, number=target)
        self.record.legs.append(record)
        leg = _Leg(leg_id, target, record, self._hop_index, hop, idle_before=self._device_idle(target))
        self._legs[leg_id] = leg
        if self.callee_leg is None:
            self.callee_leg = record
        # Register before creating: the leg's StasisStart can arrive before the REST answer.
        self._register(leg_id)
        self._alive.add(leg_id)
        # The phone shows who is calling: the caller, or the party a transfer hands on.
        caller = self.record.caller if presenting is None else self.ctx.directory.party(presenting)
        variables = {VAR_CALL_ID: self.call_id, "CALLERID(num)": caller.number}
        if caller.name:
            variables["CALLERID(name)"] = caller.name
        created = await self._act(
            "create_leg",
            lambda a: a.create_channel(
                self._endpoint(target, hop), leg_id, f"leg,{self.call_id}", self.caller_id, variables
            ),
        )
        if not created:
            leg.state = "gone"
            self._alive.discard(leg_id)
            # Asterisk could not even create it: skip to the next hop; with none, the call failed.
            self._last_cause = CAUSE_CONGESTION
        # Dialling waits for the leg's StasisStart: before it, Asterisk answers 409 to /dial.

    def _dial_timeout(self, hop: Hop) -> int:
        # Asterisk's own dial timeout backs callguard's ring limit up (it survives a restart).
        if hop.cancel_at_limit and hop.limit_s > 0:
            return int(hop.limit_s) + 10
        return self._leg_timeout_s

    async def _dial(self, leg: _Leg) -> None:
        if leg.state != "creating":
            return
        leg.state = "dialing"
        if self.state is CallState.creating:
            self.state = CallState.dialing
        timeout_s = self._dial_timeout(leg.hop)
        if await self._act("dial", lambda a: a.dial(leg.id, self.caller_id, timeout_s)):
            leg.record.started_at = datetime.now(UTC)
            self._emit("call.dialing", ext=leg.target, timeout_s=timeout_s)
            if self.ctx.answering is not None and self._dial_out is None and len(self._hops) > 1:
                # ANS-3: an unreachable phone is skipped, not waited out.
                self._start_timer(f"offline:{leg.id}", self.ctx.answering.settings.offline_after_s)
        else:
            await self._act("hangup_leg", lambda a: a.hangup(leg.id))

    async def _nobody_answered(self) -> None:
        """Every hop rang out (or was busy, declined, offline)."""
        if self._message_for is not None:
            await self._take_message(self._message_for)
            return
        cause = self._last_cause
        self.record.disposition = _UNANSWERED.get(cause or 0, "failed")
        self.record.hangup_by = "callee"
        self.record.hangup_cause = cause
        self.state = CallState.ending
        # The caller hears what the callee's phone said: busy stays busy.
        await self._act("hangup", lambda a: a.hangup(self.caller_id, cause or CAUSE_NORMAL))

    async def _handle(self, event: JSON) -> None:
        kind = event.get("type")
        channel_id = str((event.get("channel") or {}).get("id", ""))
        if kind == "StasisStart" and channel_id in self._legs:
            await self._dial(self._legs[channel_id])
        elif kind == "Dial":
            await self._on_dial(event)
        elif kind == "ChannelHangupRequest":
            if event.get("cause"):
                self._causes.setdefault(channel_id, event["cause"])
        elif kind == "ChannelDestroyed" or (kind == "StasisEnd" and channel_id == self.caller_id):
            # The caller leaves callguard at StasisEnd (its dialplan then hangs it up, unseen by
            # ARI), with the cause its hangup request carried. A leg callguard created stays
            # until ChannelDestroyed, whose cause is the final one (a dial timeout requests
            # hangup with 32 but ends with 19 "no answer").
            cause = event.get("cause") or self._causes.get(channel_id)
            await self._on_destroyed(
                channel_id, cause, event.get("cause_txt"), parse_time(event.get("timestamp"))
            )
        elif kind == "ChannelDtmfReceived" and self.state is CallState.talking:
            await self._on_talk_dtmf(channel_id, str(event.get("digit", "")))
        elif kind == "CallguardResync":
            await self._resync()
        elif kind == "CallguardTimer":
            await self._on_timer(str(event.get("name")))

    async def _on_dial(self, event: JSON) -> None:
        status = event.get("dialstatus")
        at = parse_time(event.get("timestamp")) or datetime.now(UTC)
        leg = self._legs.get(str((event.get("peer") or {}).get("id", "")))
        if leg is None or leg.state == "gone":
            return
        if leg is self._transfer:
            await self._on_transfer_dial(leg, status, at)
            return
        if status == "RINGING" and leg.state == "dialing":
            leg.state = "ringing"
            leg.record.ringing_at = at
            if leg.hop.limit_s > 0:
                # ANS-1 counts from the phone's 180 (Asterisk's timestamp), not from the INVITE.
                behind = max(0.0, (datetime.now(UTC) - at).total_seconds())
                self._start_timer(f"ring_limit:{leg.id}", max(0.0, leg.hop.limit_s - behind))
            if self.state in (CallState.creating, CallState.dialing):
                self.state = CallState.ringing
            if self.record.ringing_at is None:
                self.caller_leg.ringing_at = self.record.ringing_at = at
                self._emit("call.ringing", ext=leg.target)
                if self._caller_answered:  # a caller answered for a PIN hears ringback as a tone
                    self._ringback_playing = await self._act(
                        "ringback",
                        lambda a: a.play(self.caller_id, RINGBACK_MEDIA, self.call_id + "-ringback", "en"),
                    )
                else:
                    await self._act("ring", lambda a: a.ring(self.caller_id))
            else:
                self._emit("call.ringing", ext=leg.target)
        elif status == "ANSWER" and self.state in (CallState.creating, CallState.dialing, CallState.ringing):
            await self._connect(leg, at)

    def _rings_at(self, leg: _Leg, at: datetime) -> int | None:
        if leg.record.ringing_at is None:
            return None
        cadence = leg.hop.limit_s / leg.hop.rings if leg.hop.rings else 0.0
        if cadence <= 0:
            return None
        return int((at - leg.record.ringing_at).total_seconds() // cadence) + 1

    async def _connect(self, leg: _Leg, at: datetime) -> None:
        self.state = CallState.talking
        leg.state = "up"
        self.leg_id, self.callee_leg = leg.id, leg.record
        leg.record.answered_at = self.caller_leg.answered_at = self.record.answered_at = at
        leg.record.rings_at_answer = self._rings_at(leg, at)
        if self._dial_out is None:
            self.record.callee = self.ctx.directory.party(leg.target)  # who answered
        self.record.disposition = "answered"
        for other in self._legs.values():
            if other is not leg and other.state in _PENDING:
                other.state = "cancelled"
                await self._hangup_leg(other.id, CAUSE_ANSWERED_ELSEWHERE)
        if self._ringback_playing:
            await self._act("stop_ringback", lambda a: a.stop_playback(self.call_id + "-ringback"))
        if not self._caller_answered:
            await self._act("answer", lambda a: a.answer(self.caller_id))
            self._caller_answered = True
        if leg.late and self.ctx.answering is not None and self.ctx.answering.settings.apology:
            # ANS-2: the caller hears the apology, the answerer a whisper, before they talk.
            self._emit("call.late_answer", ext=leg.target, rings=leg.record.rings_at_answer, rule="ANS-2")
            await self._play_both("apology", leg.id, "caller_waited")
        elif self._greeting_on_answer:
            await self._play(self._greeting_on_answer)
        if self.state is not CallState.talking:
            return  # someone hung up during the prompts
        self._bridged = await self._act("bridge", lambda a: a.create_bridge(self.bridge_id))
        await self._act("bridge_add", lambda a: a.add_to_bridge(self.bridge_id, [self.caller_id, leg.id]))
        self._emit(
            "call.answered",
            ext=leg.target,
            rings=leg.record.rings_at_answer,
            rings_wait_s=round((at - (leg.record.ringing_at or at)).total_seconds(), 3),
        )
        self._start_duration_timers(at)

    # --- XFER-3: messages -----------------------------------------------------------------------

    async def _take_message(self, for_ext: str) -> None:
        """Nobody answered: the caller may leave a message after the tone (# ends it)."""
        assert self.ctx.answering is not None
        self.state = CallState.authorizing
        if not self._caller_answered:
            await self._act("answer", lambda a: a.answer(self.caller_id))
            self._caller_answered = True
        if self._bridged:  # alone in the bridge after a failed transfer: Asterisk records no bridged channel
            await self._act("bridge_remove", lambda a: a.remove_from_bridge(self.bridge_id, [self.caller_id]))
        await self._play("target_unavailable")
        name = f"callguard-message-{self.call_id}"
        max_s = self.ctx.answering.settings.message_max_s
        self.record.disposition = "no_message"
        started = await self._act("record", lambda a: a.record(self.caller_id, name, max_s))
        if not started:
            await self._end_message_call()
            return
        left_at = datetime.now(UTC)
        finished: JSON | None = None
        gone: CallerGone | None = None
        deadline = time.monotonic() + max_s + 10
        try:
            while (event := await self._next_event(deadline - time.monotonic())) is not None:
                if event.get("type") in ("RecordingFinished", "RecordingFailed"):
                    finished = event
                    break
        except CallerGone as exc:  # hanging up ends a message too: Asterisk keeps what was said
            gone = exc
            finished = await self._recording_end(deadline=time.monotonic() + 3)
        recording = (finished or {}).get("recording") or {}
        duration = recording.get("duration") or recording.get("total_duration")
        if finished is not None and finished.get("type") == "RecordingFinished" and (duration or 0) > 0:
            party = self.ctx.directory.party(for_ext)
            self.record.message = {
                "for_ext": for_ext,
                "for_person": party.person,
                "caller_number": self.record.caller.number,
                "caller_name": self.record.caller.name,
                "left_at": left_at.isoformat(),
                "duration_s": duration,
                "recording": f"{name}.wav",
            }
            self.record.disposition = "message"
            self.ctx.emit(  # topic <prefix>/<node>/message/left: whoever relays messages listens
                "message.left",
                call_id=self.call_id,
                ext=for_ext,
                person=party.person,
                caller=self.record.caller.number,
                duration_s=duration,
                recording=f"{name}.wav",
                rule="XFER-3",
            )
        if gone is not None:
            raise gone
        if self.record.disposition == "message":
            await self._play("message_saved")
        await self._end_message_call()

    async def _recording_end(self, deadline: float) -> JSON | None:
        while time.monotonic() < deadline:
            try:
                event = await asyncio.wait_for(self.queue.get(), deadline - time.monotonic())
            except TimeoutError:
                return None
            if event.get("type") in ("RecordingFinished", "RecordingFailed"):
                return event
            self._backlog.append(event)
        return None

    async def _end_message_call(self) -> None:
        self.record.hangup_by, self.record.hangup_cause = "callguard", CAUSE_NORMAL
        self.state = CallState.ending
        await self._act("hangup", lambda a: a.hangup(self.caller_id, CAUSE_NORMAL))

    # --- XFER-2: transfers by the person who answered ------------------------------------------

    async def _on_talk_dtmf(self, channel_id: str, digit: str) -> None:
        """The answerer types the transfer code (e.g. *2), an extension and #. Keys from either
        side are parsed, but only the answering employee's phone can start a transfer: an
        outside party typing the code is recorded and refused (XFER-2, SEC-3)."""
        if self.ctx.answering is None or self._transfer is not None:
            return
        code = self.ctx.answering.settings.transfer_code
        typed = self._feature.get(channel_id, "") + digit
        if code.startswith(typed) or (typed.startswith(code) and len(typed) <= len(code) + 9):
            self._feature[channel_id] = typed
        else:
            self._feature[channel_id] = digit if code.startswith(digit) else ""
            return
        if not (typed.startswith(code) and digit == "#"):
            return
        self._feature[channel_id] = ""
        target = typed[len(code) : -1]
        if self._answering_employee(channel_id) or self._calling_employee(channel_id):
            await self._start_transfer(target, channel_id)
        elif self._outside_party(channel_id):
            self.record.transfers.append(
                {
                    "by": "outside_party",
                    "to": target,
                    "at": datetime.now(UTC).isoformat(),
                    "result": "refused",
                }
            )
            self._log.warning("call.transfer_refused", to=target, reason="outside_party", rule="XFER-2")
            self._emit("call.transfer", by="outside_party", to=target, result="refused", rule="XFER-2")

    def _answering_employee(self, channel_id: str) -> bool:
        """The channel of the company phone that answered (never a trunk leg)."""
        leg = self._legs.get(channel_id)
        return (
            channel_id == self.leg_id
            and self._dial_out is None
            and leg is not None
            and self.ctx.directory.lookup(leg.target) is not None
        )

    def _calling_employee(self, channel_id: str) -> bool:
        """The desk phone that placed the call, still in it (e.g. to hand a customer it called
        to a colleague): a known line, never the trunk."""
        return (
            channel_id == self.caller_id == self._kept_id
            and self.request.direction == "internal"
            and self.record.caller.internal
        )

    def _outside_party(self, channel_id: str) -> bool:
        if channel_id == self.caller_id:
            return self.request.direction == "inbound"
        leg = self._legs.get(channel_id)
        return leg is not None and leg.hop.reason == "outside"  # a leg through the trunk

    def _other(self, channel_id: str) -> str:
        """The other of the two channels talking."""
        return self.leg_id if channel_id == self._kept_id else self._kept_id

    def _number_of(self, channel_id: str) -> str:
        leg = self._legs.get(channel_id)
        return leg.target if leg is not None else self.record.caller.number

    async def _start_transfer(self, target: str, holder: str) -> None:
        """XFER-2: `holder` (an employee's channel) hands the other party (`kept`) to `target`."""
        answering = self.ctx.answering
        assert answering is not None
        kept = self._other(holder)
        by = self._number_of(holder)
        entry: dict[str, Any] = {"by": by, "to": target, "at": datetime.now(UTC).isoformat()}
        self.record.transfers.append(entry)
        if self.ctx.directory.lookup(target) is None or target in (by, self._number_of(kept)):
            entry["result"] = "unknown_extension"
            self._emit("call.transfer", by=by, to=target, result="unknown_extension", rule="XFER-2")
            await self._play_to(holder, "unknown_number")
            return
        await self._play_to(kept, "transfer_hold")
        state = self.ctx.device_state(target) if self.ctx.device_state else None
        if state in ("INUSE", "BUSY", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"):
            entry["result"] = "unavailable"
            self._emit("call.transfer", by=by, to=target, result="unavailable", state=state, rule="XFER-2")
            await self._play_to(kept, "target_busy")
            return
        self._emit("call.transfer", by=by, to=target, result="ringing", rule="XFER-2")
        rings = answering.rings(target)
        hop = Hop((target,), rings, round(rings * answering.settings.ring_cadence_s, 3), True, "transfer")
        before = set(self._legs)
        self._hop_index = len(self._hops) + len(self.record.transfers)  # a hop of its own
        await self._create_leg(target, hop, presenting=self._number_of(kept))
        new = [leg for leg_id, leg in self._legs.items() if leg_id not in before]
        self._holder = holder
        if new and new[0].state != "gone":
            self._transfer = new[0]
            # After the hold prompt the party handed on hears ringback while the new phone rings.
            await self._act(
                "ringback",
                lambda a: a.play(kept, RINGBACK_MEDIA, self._transfer_ringback_id, "en"),
            )
        else:
            await self._transfer_failed("unavailable")

    @property
    def _transfer_ringback_id(self) -> str:
        return f"{self.call_id}-transfer{len(self.record.transfers)}-ringback"

    async def _play_to(self, channel_id: str, prompt: str) -> str | None:
        """Start a prompt to one side of a call (without waiting); its playback id if it started."""
        self._playbacks += 1
        playback_id = f"{self.call_id}-play{self._playbacks}"
        started = await self._act(
            "play", lambda a: a.play(channel_id, f"sound:callguard/{prompt}", playback_id, self.ctx.language)
        )
        self._emit("call.prompt", prompt=prompt, playback_id=playback_id, to=channel_id)
        return playback_id if started else None

    async def _on_transfer_dial(self, leg: _Leg, status: str | None, at: datetime) -> None:
        if status == "RINGING" and leg.state == "dialing":
            leg.state = "ringing"
            leg.record.ringing_at = at
            self._start_timer(f"ring_limit:{leg.id}", leg.hop.limit_s)
        elif status == "ANSWER" and leg.state in ("dialing", "ringing"):
            leg.state = "up"
            leg.record.answered_at = at
            leg.record.rings_at_answer = self._rings_at(leg, at)
            # The new person hears who is coming before the caller is put through.
            await self._act("stop_ringback", lambda a: a.stop_playback(self._transfer_ringback_id))
            # The new person hears who is coming (the caller's number, digit by digit) first.
            playback_id = await self._play_to(leg.id, "transfer_incoming")
            holder = self._holder or self.leg_id
            kept = self._other(holder)
            digits = "".join(ch for ch in self._number_of(kept) if ch.isdigit())[:20]
            if digits:
                said = f"{self.call_id}-who{len(self.record.transfers)}"
                if await self._act("play", lambda a: a.play(leg.id, f"digits:{digits}", said, "en")):
                    playback_id = said
            if playback_id is not None:
                await self._wait_playbacks({playback_id})
            await self._act("bridge_add", lambda a: a.add_to_bridge(self.bridge_id, [leg.id]))
            self._transfer = self._holder = None
            self._kept_id = kept  # the caller's channel, or the leg a calling employee handed on
            self.leg_id, self.callee_leg = leg.id, leg.record
            self.record.callee = self.ctx.directory.party(leg.target)
            self.record.transfers[-1]["result"] = "completed"
            self._emit("call.transferred", by=self._number_of(holder), to=leg.target, rule="XFER-2")
            if holder in self._alive:
                await self._hangup_leg(holder, CAUSE_NORMAL)

    async def _transfer_failed(self, result: str) -> None:
        holder = self._holder or self.leg_id
        kept = self._other(holder)
        self._transfer = self._holder = None
        await self._act("stop_ringback", lambda a: a.stop_playback(self._transfer_ringback_id))
        if self.record.transfers:
            self.record.transfers[-1]["result"] = result
        self._emit("call.transfer", to=self.record.transfers[-1]["to"], result=result, rule="XFER-2")
        if holder in self._alive:
            await self._play_to(kept, "target_busy")  # back to the employee who transferred
            return
        if kept != self.caller_id:
            # A calling employee handed the far end on and left: nobody is left to take it.
            self.record.hangup_by, self.record.hangup_cause = "callguard", CAUSE_NORMAL
            await self._hangup_leg(kept, CAUSE_NORMAL)
            return
        # The one who transferred has gone: nobody is left for the caller but a message.
        self._message_for = self.record.transfers[-1]["to"]
        await self._take_message(self._message_for)

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
        if name.startswith("ring_limit:"):
            await self._on_ring_limit(name.removeprefix("ring_limit:"))
            return
        if name.startswith("offline:"):
            leg = self._legs.get(name.removeprefix("offline:"))
            if leg is not None and leg.state in ("creating", "dialing"):
                self._emit("call.leg_offline", ext=leg.target, rule="ANS-3")
                leg.state = "offline"
                await self._hangup_leg(leg.id)
            return
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

    async def _on_ring_limit(self, leg_id: str) -> None:
        """ANS-1: the phone rang its rings and nobody answered."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.state != "ringing":
            return
        if self.state is not CallState.ringing and leg is not self._transfer:
            return
        leg.late = True
        hop = leg.hop
        late_ms = None
        if leg.record.ringing_at is not None:
            rang_s = (datetime.now(UTC) - leg.record.ringing_at).total_seconds()
            late_ms = round((rang_s - hop.limit_s) * 1000)
        party = self.ctx.directory.party(leg.target)
        self._add_violation(
            {
                "rule": "ANS-1",
                "extension": leg.target,
                "person": party.person,
                "reason": f"not answered within {hop.rings} rings ({hop.limit_s:g} s)",
                "fine_yuan": "0",
                "severity": hop.severity,
            }
        )
        self._emit("call.ring_limit", ext=leg.target, rings=hop.rings, limit_s=hop.limit_s, late_ms=late_ms)
        if hop.severity == "high":
            self._log.warning("call.priority_line_unanswered", ext=leg.target, rule="ANS-5")
        if hop.cancel_at_limit:
            leg.state = "cancelled"
            await self._act("cancel_leg", lambda a: a.hangup(leg.id, CAUSE_NO_ANSWER))

    async def _on_destroyed(
        self, channel_id: str, cause: int | None, cause_txt: str | None, at: datetime | None
    ) -> None:
        if channel_id not in self._alive:
            return
        self._alive.discard(channel_id)
        at = at or datetime.now(UTC)
        is_caller = channel_id == self.caller_id
        leg = self._legs.get(channel_id)
        record = self.caller_leg if is_caller else (leg.record if leg else None)
        if record is not None:
            record.ended_at, record.hangup_cause, record.hangup_cause_text = at, cause, cause_txt
        ringing = (CallState.creating, CallState.dialing, CallState.ringing)
        if self.state in (CallState.announcing, CallState.authorizing, CallState.new):
            if is_caller and self.state is not CallState.announcing:
                self.record.disposition = "abandoned"
                self.record.hangup_by = "caller"
                self.record.hangup_cause = cause
            if is_caller:
                self.state = CallState.ending
                await self._hang_up_legs()
        elif self.state in ringing and is_caller:
            self.record.disposition = "abandoned"
            self.record.hangup_by = "caller"
            self.record.hangup_cause = cause
            self.state = CallState.ending
            await self._hang_up_legs()
        elif self.state in ringing and leg is not None:
            was_cancelled, was_offline = leg.state == "cancelled", leg.state == "offline"
            leg.state = "gone"
            if was_offline:
                self._last_cause = 20  # subscriber absent
            elif not was_cancelled:
                self._last_cause = cause
                self._check_refusal(leg, cause)
            if all(other.state == "gone" for other in self._hop_legs()):
                await self._next_hop()
        elif self.state is CallState.talking and leg is not None and leg is self._transfer:
            leg.state = "gone"
            await self._transfer_failed(_UNANSWERED.get(cause or 0, "unavailable"))
        elif self.state is CallState.talking and self._transfer is not None and channel_id == self._holder:
            pass  # handed over before the new phone answered: the other party waits for it
        elif self.state is CallState.talking and channel_id in (self._kept_id, self.leg_id):
            self.record.hangup_by = "caller" if is_caller else "callee"
            self.record.hangup_cause = cause or CAUSE_NORMAL
            self.state = CallState.ending
            if self._transfer is not None:  # XFER-2: the party being handed on left mid-transfer
                result = f"{self.record.hangup_by}_hung_up"
                self.record.transfers[-1]["result"] = result
                self._emit("call.transfer", to=self._transfer.target, result=result, rule="XFER-2")
            # Everyone else goes too: the employee, and a transfer target ringing or being
            # briefed, so that no leg (and no "in use" phone) outlives the call.
            for other in sorted(self._alive):
                await self._hangup_leg(other, CAUSE_NORMAL)
        if not self._alive:
            await self._finish(at)

    def _check_refusal(self, leg: _Leg, cause: int | None) -> None:
        """ANS-6: a colleague's call declined by an idle phone is a violation."""
        if self.request.direction != "internal" or self._dial_out is not None:
            return
        if cause == 21 or (cause == 17 and leg.idle_before):
            party = self.ctx.directory.party(leg.target)
            reason = "declined an internal call" if cause == 21 else "busy while idle"
            self._add_violation(
                {
                    "rule": "ANS-6",
                    "extension": leg.target,
                    "person": party.person,
                    "reason": reason,
                    "fine_yuan": "0",
                    "severity": "minor",
                }
            )

    def _device_idle(self, extension: str) -> bool:
        state = self.ctx.device_state(extension) if self.ctx.device_state else None
        return state == "NOT_INUSE"

    async def _hangup_leg(self, leg_id: str, cause: int | None = None) -> None:
        await self._act("cancel_leg", lambda a: a.hangup(leg_id, cause))

    async def _hang_up_legs(self) -> None:
        for other in self._legs.values():
            if other.state in _PENDING:
                other.state = "cancelled"
                await self._hangup_leg(other.id)

    async def _finish(self, at: datetime) -> None:
        if self._bridged:
            await self._act("destroy_bridge", lambda a: a.destroy_bridge(self.bridge_id))
        self.state = CallState.done
        self.record.ended_at = at
        self._price()
        self._emit(
            "call.ended",
            disposition=self.record.disposition,
            hangup_by=self.record.hangup_by,
            hangup_cause=self.record.hangup_cause,
            talk_s=self.record.talk_s,
            ext=self.record.callee.number if self.record.callee else None,
        )
        self.ctx.submit_record(self.record)

    def _price(self) -> None:
        """LOG-4: an outside call that was dialled out gets its cost and tariff entry."""
        dial, outbound = self._dial_out, self.ctx.outbound
        if dial is None or outbound is None:
            return
        record = self.record
        record.cost, record.tariff = rate_call(
            outbound.tariffs, dial.number, dial.number_class, record.answered_at, record.ended_at
        )
        if record.cost is None:
            self._log.warning("cost.unrated", number_class=dial.number_class, rule="LOG-4")
        elif self.ctx.charge is not None:
            self.ctx.charge(record)

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
        for leg in list(self._legs.values()):
            if leg.state == "creating" and leg.id in self._alive:
                # The leg exists but its StasisStart was missed: it was never dialled.
                await self._dial(leg)

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
        decision = self._decide()
        if isinstance(decision, DialOut):
            self._dial_out = decision
            self.record.direction, self.record.number_class = "outbound", decision.number_class
            self.record.budget = decision.budget
            callee = Party(number=decision.number)
            if self.ctx.guard is not None and not decision.emergency:
                self.ctx.guard.admit(self.call_id, self.request.from_line, time.monotonic())
        elif isinstance(decision, Route):
            self._message_for = decision.message_for
        self._caller_answered = adoption.caller_up
        self.record.callee = callee
        self._bridged = adoption.answered_at is not None
        if adoption.leg is None:
            if adoption.answered_at is not None:
                self.record.answered_at = self.caller_leg.answered_at = adoption.answered_at
                self.record.disposition = "answered"
            # The callee's side ended while nobody watched: end the caller's side too.
            self.state = CallState.ending
            await self._act("hangup", lambda a: a.hangup(self.caller_id, CAUSE_NORMAL))
            return
        leg_id = str(adoption.leg["id"])
        target = _leg_target(adoption.leg, self._dial_out) or callee.number
        self._leg_seq = max(self._leg_seq, _leg_number(leg_id))
        record = LegRecord(role="callee", channel_id=leg_id, number=target)
        self.record.legs.append(record)
        hop = Hop((target,), 0, 0.0, False, "readopted")  # its ring limit was the old process's
        self._hops, self._hop_index = (hop,), 0
        leg = _Leg(leg_id, target, record, 0, hop)
        self._legs[leg_id] = leg
        self.leg_id, self.callee_leg = leg_id, record
        self._register(leg_id)
        self._alive.add(leg_id)
        if self._dial_out is None:
            self.record.callee = self.ctx.directory.party(target)
        leg_state = adoption.leg.get("state")
        if leg_state == "Up" and adoption.answered_at is not None:
            leg.state = "up"
            record.answered_at = self.record.answered_at = adoption.answered_at
            self.caller_leg.answered_at = adoption.answered_at
            self.record.disposition = "answered"
            self.state = CallState.talking
            self._start_duration_timers(adoption.answered_at)
        elif leg_state == "Up":
            leg.state = "ringing"
            self.state = CallState.ringing
            await self._connect(leg, datetime.now(UTC))  # answered while callguard was away
        else:
            leg.state = "ringing" if leg_state == "Ringing" else "dialing"
            self.state = CallState.ringing if leg_state == "Ringing" else CallState.dialing
        await self._resync()
