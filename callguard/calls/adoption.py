"""Re-adoption: a call a previous callguard process handled continues where Asterisk says it is.

What Asterisk knows is the caller's channel, the legs named `<call>-leg<N>`, the bridge
`cg-<call>` (the answer's record) and, when the call got that far, the call's facts as a
snapshot (`persist.py`). With a snapshot the call resumes with its parties, hops, violations,
authorisation and matter code; without one the decision is taken again (it is pure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callguard.calls import effects as fx
from callguard.calls.call import Call, Leg, LegState, Phase, leg_number
from callguard.calls.context import SessionContext
from callguard.calls.events import Channel
from callguard.calls.flows import duration, ending, ringing, start
from callguard.calls.resume import from_facts
from callguard.policy import DialOut, Hop, Party, Route, q850
from callguard.records import LegRecord

Effects = list[fx.Effect]


@dataclass(frozen=True)
class Adoption:
    """What Asterisk still knows about a call that a previous callguard process handled."""

    leg: Channel | None
    answered_at: datetime | None
    caller_up: bool
    facts: dict[str, Any] | None = None  # the call's snapshot, when one was kept
    legs: tuple[Channel, ...] = ()  # with facts: every leg of the call still in Asterisk


def resume(call: Call, ctx: SessionContext, adoption: Adoption, now: datetime) -> Effects:
    leg_state = adoption.leg.state if adoption.leg else None
    readopted = {"ext": call.record.caller.number, "dialed": call.record.dialed, "leg_state": leg_state}
    out: Effects = [fx.Emit("call.readopted", readopted)]
    call.record.decisions.append({"action": "readopt", "reason": "callguard restarted"})
    if adoption.facts is not None:
        return out + from_facts(call, ctx, adoption.legs, now)
    if adoption.leg is None and adoption.answered_at is None and not adoption.caller_up:
        # Never answered and no leg: route it (again; a leg that rang and ended while
        # callguard was away left no trace, so its callee may ring a second time).
        return out + start.start(call, ctx, now)
    callee = _decide_again(call, ctx)
    call.caller_answered = adoption.caller_up
    call.record.callee = callee
    call.bridged = adoption.answered_at is not None
    if adoption.leg is None:
        if adoption.answered_at is not None:
            call.record.answered_at = call.caller_leg.answered_at = adoption.answered_at
            call.record.disposition = "answered"
        # The callee's side ended while nobody watched: end the caller's side too.
        call.phase = Phase.ending
        return [*out, fx.Hangup(call.caller_channel, q850.NORMAL)]
    return out + _take_leg(call, ctx, adoption.leg, callee, adoption.answered_at, now) + ending.resync(call)


def _decide_again(call: Call, ctx: SessionContext) -> Party:
    """The decision is pure and the request unchanged: an outside call gets its class, its
    OUT-4 limits and its place in the SEC-3 counters back."""
    decision = start.decide(call, ctx)
    if isinstance(decision, DialOut):
        start.note_dial_out(call, decision)
        if ctx.guard is not None and not decision.emergency:
            ctx.guard.admit(call.call_id, call.request.from_line, ctx.monotonic())
        return Party(number=decision.number)
    if isinstance(decision, Route):
        call.message_for = decision.message_for
    return ctx.directory.party(call.record.dialed)


def _take_leg(
    call: Call,
    ctx: SessionContext,
    channel: Channel,
    callee: Party,
    answered_at: datetime | None,
    now: datetime,
) -> Effects:
    target = call.dial_out.number if call.dial_out else (channel.endpoint or callee.number)
    call.leg_seq = max(call.leg_seq, leg_number(channel.id))
    record = LegRecord(role="callee", channel_id=channel.id, number=target)
    call.record.legs.append(record)
    hop = Hop((target,), 0, 0.0, False, "readopted")  # its ring limit was the old process's
    call.hops, call.hop_index = (hop,), 0
    leg = Leg(channel.id, target, record, 0, hop)
    call.legs[leg.id] = leg
    call.talking_leg, call.callee_leg = leg.id, record
    call.channels.add(leg.id)
    call.alive.add(leg.id)
    if call.dial_out is None:
        call.record.callee = ctx.directory.party(target)
    if channel.state == "Up" and answered_at is not None:
        leg.state = LegState.up
        record.answered_at = call.record.answered_at = call.caller_leg.answered_at = answered_at
        call.record.disposition = "answered"
        call.phase = Phase.talking
        return duration.start_timers(call, answered_at, now)
    if channel.state == "Up":
        leg.state = LegState.ringing
        call.phase = Phase.ringing
        return ringing.connect(call, ctx, leg, now, now)  # answered while callguard was away
    ringing_now = channel.state == "Ringing"
    leg.state = LegState.ringing if ringing_now else LegState.dialing
    call.phase = Phase.ringing if ringing_now else Phase.dialing
    return []
