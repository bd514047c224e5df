"""Ringing the callees: hops of phones rung in turn (ANS-1, ANS-3, XFER-1), until one answers.

Each hop's legs ring together; a leg still ringing at its ANS-1 limit is cancelled when the hop
says so, a phone not ringing after ANS-3's wait is skipped, and when every leg of a hop has
ended the next hop rings. The first answer connects the call; nobody answering ends it with
the callee's cause, or a message (XFER-3).
"""

from __future__ import annotations

from datetime import datetime

import structlog

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import PENDING, RINGING, Call, Leg, LegState, Phase, leg_channel_id
from callguard.calls.context import SessionContext
from callguard.calls.flows import duration, message, supervision
from callguard.calls.flows.common import add_violation, persist, provisional
from callguard.calls.flows.dialogue import Then, play, play_to, wait_playbacks
from callguard.policy import Hop, q850, violations
from callguard.policy.transfer import is_idle
from callguard.records import LegRecord

log = structlog.get_logger("callguard.calls")

VAR_CALL_ID = "CG_CALL_ID"  # on each leg, for operators reading `core show channel`

Effects = list[fx.Effect]


def default_hop(target: str) -> Hop:
    """A route without a ring plan rings its target until the no-answer timeout."""
    return Hop((target,), 0, 0.0, False, "person")


def ring(call: Call, ctx: SessionContext, now: datetime, hops: tuple[Hop, ...], timeout_s: int) -> Effects:
    """Start the ring plan: its hops ring in turn until someone answers."""
    call.hops, call.leg_timeout_s = hops, timeout_s
    call.phase = Phase.creating
    call.step = None
    out = next_hop(call, ctx, now)
    return out if call.persisted else [provisional(call), *out]  # a kept call is on record already


def next_hop(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    call.hop_index += 1
    if call.hop_index >= len(call.hops):
        return nobody_answered(call, ctx, now)
    hop = call.hops[call.hop_index]
    out: Effects = []
    if len(call.hops) > 1:
        fields = {"hop": call.hop_index + 1, "targets": list(hop.targets), "reason": hop.reason}
        out.append(fx.Emit("call.hop", {**fields, "rings": hop.rings, "rule": hop.rule}))
    for target in hop.targets:
        out += create_leg(call, ctx, target, hop)
    return [*out, *persist(call)]


def create_leg(
    call: Call,
    ctx: SessionContext,
    target: str,
    hop: Hop,
    presenting: str | None = None,
    on_ok: Effects | None = None,
) -> Effects:
    """A new leg ringing `target`; the phone shows the caller (or the party a transfer hands on)."""
    call.leg_seq += 1
    leg_id = leg_channel_id(call.call_id, call.leg_seq)
    record = LegRecord(role="callee", channel_id=leg_id, number=target)
    call.record.legs.append(record)
    idle = is_idle(ctx.device_state(target)) if ctx.device_state else False
    call.legs[leg_id] = Leg(leg_id, target, record, call.hop_index, hop, idle_before=idle)
    if call.callee_leg is None:
        call.callee_leg = record
    call.channels.add(leg_id)
    call.alive.add(leg_id)
    caller = call.record.caller if presenting is None else ctx.directory.party(presenting)
    variables = [(VAR_CALL_ID, call.call_id), ("CALLERID(num)", caller.number)]
    if caller.name:
        variables.append(("CALLERID(name)", caller.name))
    # Only the outside call's own hop goes through the trunk; a transfer target is always an
    # extension (XFER-2), so no key typed mid-call can seize the trunk.
    trunk = call.dial_out.trunk if call.dial_out is not None and hop.reason == "outside" else None
    args = f"leg,{call.call_id}"
    # Dialling waits for the leg's StasisStart: before it, Asterisk answers 409 to /dial.
    return [
        fx.CreateLeg(leg_id, target, trunk, call.caller_channel, args, tuple(variables), tuple(on_ok or ()))
    ]


def create_failed(call: Call, ctx: SessionContext, leg: Leg, now: datetime) -> Effects:
    """Asterisk could not even create the leg: skip to the next hop; with none, the call failed."""
    leg.state = LegState.gone
    call.alive.discard(leg.id)
    call.last_cause = q850.CONGESTION
    if leg is call.transfer:
        from callguard.calls.flows.transfer import transfer_failed  # transfer imports ringing

        return transfer_failed(call, ctx, now, "unavailable")
    if call.phase in RINGING and all(other.state is LegState.gone for other in call.hop_legs()):
        return next_hop(call, ctx, now)
    return []


def dial(call: Call, leg: Leg, now: datetime) -> Effects:
    if leg.state is not LegState.creating:
        return []
    leg.state = LegState.dialing
    if call.phase is Phase.creating:
        call.phase = Phase.dialing
    hop = leg.hop
    # Asterisk's own dial timeout backs callguard's ring limit up (it survives a restart).
    timeout_s = int(hop.limit_s) + 10 if hop.cancel_at_limit and hop.limit_s > 0 else call.leg_timeout_s
    leg.record.started_at = now
    on_ok: Effects = [fx.Emit("call.dialing", {"ext": leg.target, "timeout_s": timeout_s})]
    if hop.offline_skip_s is not None:  # ANS-3: an unreachable phone is skipped, not waited out
        on_ok.append(fx.StartTimer(f"offline:{leg.id}", hop.offline_skip_s))
    return [fx.Dial(leg.id, call.caller_channel, timeout_s, tuple(on_ok))]


def dial_failed(leg: Leg) -> Effects:
    leg.record.started_at = None
    return [fx.Hangup(leg.id, None, "hangup_leg")]


def on_dial(call: Call, ctx: SessionContext, event: ev.Dialled, leg: Leg, now: datetime) -> Effects:
    at = event.at or now
    if event.status == "RINGING" and leg.state is LegState.dialing:
        return _ringing(call, leg, at, now)
    if event.status == "ANSWER" and call.phase in RINGING:
        return connect(call, ctx, leg, at, now)
    return []


def _ringing(call: Call, leg: Leg, at: datetime, now: datetime) -> Effects:
    leg.state = LegState.ringing
    leg.record.ringing_at = at
    out: Effects = []
    if leg.hop.limit_s > 0:
        # ANS-1 counts from the phone's 180 (Asterisk's timestamp), not from the INVITE.
        behind = max(0.0, (now - at).total_seconds())
        out.append(fx.StartTimer(f"ring_limit:{leg.id}", max(0.0, leg.hop.limit_s - behind)))
    if call.phase in (Phase.creating, Phase.dialing):
        call.phase = Phase.ringing
    out.append(fx.Emit("call.ringing", {"ext": leg.target}))
    if call.record.ringing_at is not None:
        return out
    call.caller_leg.ringing_at = call.record.ringing_at = at
    if call.caller_answered:  # a caller answered for a PIN hears ringback as a tone
        call.ringback_playing = True
        return [*out, fx.PlayRingback(call.caller_channel, call.call_id + "-ringback")]
    return [*out, fx.Ring(call.caller_channel)]


def rings_at(leg: Leg, at: datetime) -> int | None:
    if leg.record.ringing_at is None:
        return None
    return leg.hop.rings_after((at - leg.record.ringing_at).total_seconds())


def connect(call: Call, ctx: SessionContext, leg: Leg, at: datetime, now: datetime) -> Effects:
    call.phase = Phase.talking
    leg.state = LegState.up
    call.talking_leg, call.callee_leg = leg.id, leg.record
    leg.record.answered_at = call.caller_leg.answered_at = call.record.answered_at = at
    leg.record.rings_at_answer = rings_at(leg, at)
    if call.dial_out is None:
        call.record.callee = ctx.directory.party(leg.target)  # who answered
    call.record.disposition = "answered"
    out: Effects = []
    for other in call.legs.values():
        if other is not leg and other.state in PENDING:
            other.state = LegState.cancelled
            out.append(fx.Hangup(other.id, q850.ANSWERED_ELSEWHERE, "cancel_leg"))
    if call.ringback_playing:
        out.append(fx.StopPlayback(call.call_id + "-ringback"))
    if not call.caller_answered:
        out.append(fx.Answer(call.caller_channel))
        call.caller_answered = True
    bridge = _bridge(leg, at)
    if supervision.sampled(call, ctx):  # LOG-6: the notice, then the recorded bridge
        bridge = supervision.announced(leg, bridge)
    if leg.late and leg.hop.apology:
        # ANS-2: the caller hears the apology, the answerer a whisper, before they talk.
        rings = leg.record.rings_at_answer
        out.append(fx.Emit("call.late_answer", {"ext": leg.target, "rings": rings, "rule": "ANS-2"}))
        first, to_caller = play_to(call, call.caller_channel, "apology")
        second, to_leg = play_to(call, leg.id, "caller_waited")
        return out + to_caller + to_leg + wait_playbacks(call, ctx, now, {first, second}, bridge)
    if call.greeting_on_answer:
        return out + play(call, ctx, now, call.greeting_on_answer, bridge)
    return out + bridge(call, ctx, now)


def _bridge(leg: Leg, at: datetime) -> Then:
    def bridge(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        if call.phase is not Phase.talking:
            return []  # someone hung up during the prompts
        call.bridged = True
        wait_s = round((at - (leg.record.ringing_at or at)).total_seconds(), 3)
        answered = {"ext": leg.target, "rings": leg.record.rings_at_answer, "rings_wait_s": wait_s}
        return [
            fx.CreateBridge(call.bridge_id),
            fx.AddToBridge(call.bridge_id, (call.caller_channel, leg.id)),
            fx.Emit("call.answered", answered),
            *duration.start_timers(call, at, now),
            *persist(call),
        ]

    return bridge


def on_ring_limit(call: Call, ctx: SessionContext, leg: Leg, now: datetime) -> Effects:
    """ANS-1: the phone rang its rings and nobody answered."""
    if leg.state is not LegState.ringing:
        return []
    if call.phase is not Phase.ringing and leg is not call.transfer:
        return []
    leg.late = True
    hop = leg.hop
    late_ms = None
    if leg.record.ringing_at is not None:
        late_ms = round(((now - leg.record.ringing_at).total_seconds() - hop.limit_s) * 1000)
    person = ctx.directory.party(leg.target).person
    out = add_violation(call, violations.ring_limit(hop, leg.target, person), now)
    out.append(
        fx.Emit(
            "call.ring_limit",
            {"ext": leg.target, "rings": hop.rings, "limit_s": hop.limit_s, "late_ms": late_ms},
        )
    )
    if hop.severity == "high":
        log.warning("call.priority_line_unanswered", ext=leg.target, rule="ANS-5")
    if hop.cancel_at_limit:
        leg.state = LegState.cancelled
        out.append(fx.Hangup(leg.id, q850.NO_ANSWER, "cancel_leg"))
    return out


def on_offline(leg: Leg) -> Effects:
    """ANS-3: a phone that did not start ringing in time is offline: skip it."""
    if leg.state not in (LegState.creating, LegState.dialing):
        return []
    leg.state = LegState.offline
    return [
        fx.Emit("call.leg_offline", {"ext": leg.target, "rule": "ANS-3"}),
        fx.Hangup(leg.id, None, "cancel_leg"),
    ]


def leg_ended(call: Call, ctx: SessionContext, leg: Leg, cause: int | None, now: datetime) -> Effects:
    """A leg of the ringing hop ended before anyone answered; the last one rings the next hop."""
    was_cancelled, was_offline = leg.state is LegState.cancelled, leg.state is LegState.offline
    leg.state = LegState.gone
    out: Effects = []
    if was_offline:
        call.last_cause = q850.SUBSCRIBER_ABSENT
    elif not was_cancelled:
        call.last_cause = cause
        colleague = call.request.direction == "internal" and call.dial_out is None
        person = ctx.directory.party(leg.target).person
        refused = violations.refusal(leg.target, person, cause, leg.idle_before, colleague)
        if refused is not None:  # ANS-6
            out += add_violation(call, refused, now)
    if all(other.state is LegState.gone for other in call.hop_legs()):
        out += next_hop(call, ctx, now)
    return out


def nobody_answered(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    """Every hop rang out (or was busy, declined, offline)."""
    if call.message_for is not None:
        return message.take_message(call, ctx, now, call.message_for)
    cause = call.last_cause
    call.record.disposition = q850.unanswered(cause)
    call.record.hangup_by = "callee"
    call.record.hangup_cause = cause
    call.phase = Phase.ending
    # The caller hears what the callee's phone said: busy stays busy.
    return [fx.Hangup(call.caller_channel, cause or q850.NORMAL)]


def cancel_pending(call: Call) -> Effects:
    """The caller left: every phone still ringing for the call stops."""
    out: Effects = []
    for leg in call.legs.values():
        if leg.state in PENDING:
            leg.state = LegState.cancelled
            out.append(fx.Hangup(leg.id, None, "cancel_leg"))
    return out
