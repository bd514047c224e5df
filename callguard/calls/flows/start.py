"""A new call: ask the policy where it goes, then refuse it, greet and ring, or place it outside.

The decision comes from `policy.decide_call`; this module only carries it out.
"""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import Call, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows import authorize, ringing
from callguard.calls.flows.common import provisional
from callguard.calls.flows.dialogue import play
from callguard.calls.flows.refusal import note_refusal, refuse
from callguard.policy import Decision, DialOut, Hop, Party, Refuse, Route, decide_call

Effects = list[fx.Effect]


def decide(call: Call, ctx: SessionContext) -> Decision:
    return decide_call(
        ctx.directory,
        call.request,
        no_answer_timeout_s=ctx.settings.no_answer_timeout_s,
        outbound=ctx.outbound,
        inbound=ctx.inbound,
        answering=ctx.answering,
    )


def start(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    decision = decide(call, ctx)
    record = call.record
    record.decisions.append(decision.as_dict())
    out: Effects = [
        fx.Emit(
            "call.started",
            {
                "caller": record.caller.number,
                "dialed": record.dialed,
                "direction": record.direction,
                "ext": record.caller.number,
            },
        ),
        fx.Emit("call.decision", {"ext": record.caller.number, **decision.as_dict()}),
    ]
    if isinstance(decision, Refuse):
        out += note_refusal(call, decision, now)
    elif isinstance(decision, DialOut):
        note_dial_out(call, decision)
    else:
        record.callee = ctx.directory.party(decision.target)
    if isinstance(decision, Route) and decision.greeting is None:
        return out + route(call, ctx, now, decision)  # it is on record as it starts ringing
    # LOG-1: a record exists from the first decision, so that a refused or abandoned call
    # leaves one even if callguard dies before the call ends (closed as ended_unobserved).
    out.append(provisional(call))
    if isinstance(decision, Refuse):
        return out + refuse(call, ctx, now, decision, noted=True)
    if isinstance(decision, DialOut):
        return out + place_outside_call(call, ctx, now, decision)
    return out + route(call, ctx, now, decision)


def note_dial_out(call: Call, dial: DialOut) -> None:
    call.dial_out = dial
    call.record.direction = "outbound"
    call.record.number_class = dial.number_class
    call.record.callee = Party(number=dial.number)
    call.record.budget = dial.budget  # LOG-4: the register names the budget charged


def route(call: Call, ctx: SessionContext, now: datetime, decision: Route) -> Effects:
    call.record.callee = ctx.directory.party(decision.target)
    call.message_for = decision.message_for
    call.greeting_on_answer = decision.greeting_on_answer
    hops = decision.hops or (ringing.default_hop(decision.target),)

    def ring(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        return ringing.ring(call, ctx, now, hops, decision.timeout_s)

    if decision.greeting is None:
        return ring(call, ctx, now)
    # ANS-4: the outside caller hears the greeting of the number dialled before it rings.
    call.phase = Phase.authorizing
    return [
        fx.Progress(call.caller_channel),
        *play(call, ctx, now, decision.greeting, ring, step={"at": "greeting"}),
    ]


def place_outside_call(call: Call, ctx: SessionContext, now: datetime, dial: DialOut) -> Effects:
    """OUT-1..7: the decision said this outside call may go, possibly after a PIN and a matter
    code; SEC-3's counters have the last word before the trunk is seized."""
    outbound = ctx.outbound
    assert outbound is not None
    note_dial_out(call, dial)
    line = call.request.from_line
    if ctx.guard is not None and not dial.emergency:
        over = ctx.guard.admit(call.call_id, line, ctx.monotonic())
        if over is not None:
            alert = fx.Emit("alert.toll_fraud", {"ext": line, "dialed": dial.number, "reason": over})
            return [alert, *refuse(call, ctx, now, outbound.toll_refused(call.request, over))]
    if dial.needs_pin and (until := authorize.pin_locked_until(call, ctx, now)) is not None:
        # OUT-3 lockout: the caller hears the refusal at once; no code is asked for.
        return refuse(call, ctx, now, outbound.pin_locked(call.request, until))
    return authorize.authorize(call, ctx, now, dial, then=remind_then_ring)


def remind_then_ring(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    """OUT-7: a reminder before the call goes out, then the trunk."""
    dial = call.dial_out
    assert dial is not None
    if dial.reminder is None:
        return ring_out(call, ctx, now)
    call.phase = Phase.authorizing
    out: Effects = [] if call.caller_answered else [fx.Progress(call.caller_channel)]
    return out + play(call, ctx, now, dial.reminder, ring_out, step={"at": "reminder"})


def ring_out(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    """The outside number, through the trunk: a ring plan of one hop."""
    dial = call.dial_out
    assert dial is not None
    hop = Hop((dial.number,), 0, 0.0, False, "outside")
    return ringing.ring(call, ctx, now, (hop,), dial.timeout_s)
