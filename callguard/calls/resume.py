"""Re-adoption from the call's facts (the snapshot `persist.py` kept in Asterisk).

The restored `Call` has its parties, ring plan, violations, authorisation, matter code and the
dialogue step under way; this module lines it up with what Asterisk says now (which legs are
still there, ringing or answered) and picks the flow up where the previous process left it:
a prompt still playing is waited for (not played again), a question goes on, a hop keeps its
ANS-1 limit, a transfer its target, a message its recording, a talk its OUT-4 deadline.
"""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import PENDING, RINGING, Call, Leg, LegState, Phase
from callguard.calls.context import SessionContext
from callguard.calls.events import Channel
from callguard.calls.flows import authorize, duration, message, ringing, start, transfer
from callguard.calls.flows.dialogue import resume_prompt
from callguard.policy import DialOut, Route, q850

Effects = list[fx.Effect]


def from_facts(call: Call, ctx: SessionContext, legs: tuple[Channel, ...], now: datetime) -> Effects:
    call.record.readopted = True
    decision = start.decide(call, ctx)  # pure, same request: the outside call's limits come back
    if isinstance(decision, DialOut):
        call.dial_out = decision
        if ctx.guard is not None and not decision.emergency:
            ctx.guard.admit(call.call_id, call.request.from_line, ctx.monotonic())
    present = {channel.id: channel for channel in legs}
    _line_up(call, present)
    if call.phase is Phase.authorizing:
        out = _resume_step(call, ctx, decision, now)
    elif call.phase in RINGING:
        out = _resume_ringing(call, ctx, present, now)
    elif call.phase is Phase.talking:
        out = _resume_talk(call, ctx, present, now)
    else:  # a refusal being announced, or ending: it ends
        call.phase = Phase.ending
        out = [fx.Hangup(call.caller_channel, call.record.hangup_cause or q850.NORMAL)]
    # Legs the facts hold as live but Asterisk no longer has end now (the resync finds them).
    return out + [fx.CheckChannels(tuple(sorted(call.alive)))]


def _line_up(call: Call, present: dict[str, Channel]) -> None:
    call.channels = {call.caller_channel, *call.legs}
    call.alive = {call.caller_channel}
    for leg in call.legs.values():
        channel = present.get(leg.id)
        if channel is not None and leg.record.started_at is None:
            leg.record.started_at = channel.created_at
        if channel is not None or leg.state in PENDING or leg.state is LegState.up:
            call.alive.add(leg.id)


def _resume_step(call: Call, ctx: SessionContext, decision: object, now: datetime) -> Effects:
    step = call.step or {}
    at = step.get("at")
    if at == "greeting" and isinstance(decision, Route):
        hops = decision.hops or (ringing.default_hop(decision.target),)

        def ring(call: Call, ctx: SessionContext, now: datetime) -> Effects:
            return ringing.ring(call, ctx, now, hops, decision.timeout_s)

        return resume_prompt(call, str(step.get("playback", "")), ring)
    if at in ("pin", "matter"):
        return authorize.resume_question(call, ctx, step, start.remind_then_ring)
    if at == "reminder":
        return resume_prompt(call, str(step.get("playback", "")), start.ring_out)
    if at == "message_prompt":
        return resume_prompt(call, str(step.get("playback", "")), message.record_for(str(step["for"])))
    if at == "message":
        left_at = datetime.fromisoformat(str(step["left_at"]))
        return message.listen(call, ctx, str(step["for"]), left_at)
    call.phase = Phase.ending  # nothing known to go on with
    return [fx.Hangup(call.caller_channel, q850.NORMAL)]


def _resume_ringing(call: Call, ctx: SessionContext, present: dict[str, Channel], now: datetime) -> Effects:
    hop_legs = [leg for leg in call.hop_legs() if leg.id in present and leg.state in PENDING]
    if not hop_legs:
        return ringing.next_hop(call, ctx, now)
    out: Effects = []
    for leg in hop_legs:
        channel = present[leg.id]
        if channel.state == "Up":
            return ringing.connect(call, ctx, leg, now, now)  # answered while callguard was away
        if channel.state == "Ringing":
            out += _ringing_on(call, leg, channel, now)
            call.phase = Phase.ringing
        elif leg.state is LegState.creating:
            leg.state = LegState.dialing  # dialled by the previous process (or by the resync)
    if call.phase is Phase.creating:
        call.phase = Phase.dialing
    return out


def _ringing_on(call: Call, leg: Leg, channel: Channel, now: datetime) -> Effects:
    """A leg still ringing keeps its ANS-1 limit, counted from when it started ringing."""
    leg.state = LegState.ringing
    rang_from = leg.record.ringing_at or channel.created_at or now
    leg.record.ringing_at = rang_from
    if call.record.ringing_at is None:
        call.record.ringing_at = call.caller_leg.ringing_at = rang_from
    if leg.hop.limit_s <= 0 or leg.late:
        return []
    left = leg.hop.limit_s - (now - rang_from).total_seconds()
    return [fx.StartTimer(f"ring_limit:{leg.id}", max(0.0, left))]


def _resume_talk(call: Call, ctx: SessionContext, present: dict[str, Channel], now: datetime) -> Effects:
    out: Effects = []
    answered_at = call.record.answered_at or now
    out += duration.start_timers(call, answered_at, now)
    target = call.transfer
    if target is None or target.id not in present:
        return out  # a transfer target gone while callguard was away: the resync ends it
    channel = present[target.id]
    if channel.state == "Up" and target.state in PENDING:
        return out + transfer.answered(call, ctx, target, now, now)
    if channel.state == "Ringing" and target.state in PENDING:
        out += _ringing_on(call, target, channel, now)
    return out
