"""XFER-2: the person who answered (or the employee who called) hands the call on by typing the
transfer code, an extension and #. Whether the target can take it is `policy.transfer`'s
call; this module holds the other party, rings the target, briefs it and completes or fails.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import Call, Leg, LegState, leg_channel_id
from callguard.calls.context import SessionContext
from callguard.calls.flows import message, ringing
from callguard.calls.flows.common import persist
from callguard.calls.flows.dialogue import play_to, wait_playbacks
from callguard.policy import TransferRefusal, q850
from callguard.policy.transfer import check_target

log = structlog.get_logger("callguard.calls")

MAX_TARGET_DIGITS = 9
Effects = list[fx.Effect]


def _typed_code(call: Call, code: str, channel_id: str, digit: str) -> str | None:
    """Feed one key to `channel_id`'s buffer; the whole code + extension + # once complete."""
    typed = call.feature.get(channel_id, "") + digit
    if code.startswith(typed) or (typed.startswith(code) and len(typed) <= len(code) + MAX_TARGET_DIGITS):
        call.feature[channel_id] = typed
    else:
        call.feature[channel_id] = digit if code.startswith(digit) else ""
        return None
    if not (typed.startswith(code) and digit == "#"):
        return None
    call.feature[channel_id] = ""
    return typed


def on_talk_dtmf(call: Call, ctx: SessionContext, event: ev.DtmfReceived, now: datetime) -> Effects:
    """Keys from either side are parsed (each side apart), but only the answering employee's
    phone can start a transfer: an outside party typing the code is recorded and refused."""
    if ctx.answering is None or call.transfer is not None:
        return []
    code = ctx.answering.settings.transfer_code
    typed = _typed_code(call, code, event.channel_id, event.digit)
    if typed is None:
        return []
    target = typed[len(code) : -1]
    if _answering_employee(call, ctx, event.channel_id) or _calling_employee(call, event.channel_id):
        return start_transfer(call, ctx, now, target, event.channel_id)
    if not _outside_party(call, event.channel_id):
        return []
    call.record.transfers.append(
        {"by": "outside_party", "to": target, "at": now.isoformat(), "result": "refused"}
    )
    log.warning("call.transfer_refused", to=target, reason="outside_party", rule="XFER-2")
    refused = {"by": "outside_party", "to": target, "result": "refused", "rule": "XFER-2"}
    return [fx.Emit("call.transfer", refused)]


def _answering_employee(call: Call, ctx: SessionContext, channel_id: str) -> bool:
    """The channel of the company phone that answered (never a trunk leg)."""
    leg = call.legs.get(channel_id)
    return (
        channel_id == call.talking_leg
        and call.dial_out is None
        and leg is not None
        and ctx.directory.lookup(leg.target) is not None
    )


def _calling_employee(call: Call, channel_id: str) -> bool:
    """The desk phone that placed the call, still in it (e.g. to hand a customer it called
    to a colleague): a known line, never the trunk."""
    return (
        channel_id == call.caller_channel == call.kept
        and call.request.direction == "internal"
        and call.record.caller.internal
    )


def _outside_party(call: Call, channel_id: str) -> bool:
    if channel_id == call.caller_channel:
        return call.request.direction == "inbound"
    leg = call.legs.get(channel_id)
    return leg is not None and leg.hop.reason == "outside"  # a leg through the trunk


def _ringback_id(call: Call) -> str:
    return f"{call.call_id}-transfer{len(call.record.transfers)}-ringback"


def start_transfer(call: Call, ctx: SessionContext, now: datetime, target: str, holder: str) -> Effects:
    """`holder` (an employee's channel) hands the other party (`kept`) to `target`."""
    assert ctx.answering is not None
    kept = call.other(holder)
    by = call.number_of(holder)
    entry = {"by": by, "to": target, "at": now.isoformat()}
    call.record.transfers.append(entry)
    state = ctx.device_state(target) if ctx.device_state else None
    plan = check_target(ctx.answering, target, by, call.number_of(kept), state)
    if isinstance(plan, TransferRefusal):
        return _refused(call, entry, plan, holder, kept)
    _, out = play_to(call, kept, "transfer_hold")
    out.append(fx.Emit("call.transfer", {"by": by, "to": target, "result": "ringing", "rule": "XFER-2"}))
    call.hop_index = len(call.hops) + len(call.record.transfers)  # a hop of its own
    call.holder = holder
    # After the hold prompt the party handed on hears ringback while the new phone rings.
    ringback = fx.PlayRingback(kept, _ringback_id(call))
    out += ringing.create_leg(call, ctx, target, plan.hop, presenting=call.number_of(kept), on_ok=[ringback])
    call.transfer = call.legs[leg_channel_id(call.call_id, call.leg_seq)]
    return [*out, *persist(call)]


def _refused(call: Call, entry: dict[str, str], refusal: TransferRefusal, holder: str, kept: str) -> Effects:
    entry["result"] = refusal.result
    fields = {"by": entry["by"], "to": entry["to"], "result": refusal.result}
    if refusal.state is not None:
        fields["state"] = refusal.state
    emitted = fx.Emit("call.transfer", {**fields, "rule": "XFER-2"})
    if refusal.to_holder:
        return [emitted, *play_to(call, holder, refusal.prompt)[1]]
    _, hold = play_to(call, kept, "transfer_hold")
    return [*hold, emitted, *play_to(call, kept, refusal.prompt)[1]]


def on_dial(call: Call, ctx: SessionContext, event: ev.Dialled, leg: Leg, now: datetime) -> Effects:
    at = event.at or now
    if event.status == "RINGING" and leg.state is LegState.dialing:
        leg.state = LegState.ringing
        leg.record.ringing_at = at
        return [fx.StartTimer(f"ring_limit:{leg.id}", leg.hop.limit_s)]
    if event.status == "ANSWER" and leg.state in (LegState.dialing, LegState.ringing):
        return answered(call, ctx, leg, at, now)
    return []


def answered(call: Call, ctx: SessionContext, leg: Leg, at: datetime, now: datetime) -> Effects:
    """The new person hears that a call comes, and whose (the number digit by digit), first."""
    leg.state = LegState.up
    leg.record.answered_at = at
    leg.record.rings_at_answer = ringing.rings_at(leg, at)
    incoming, out = play_to(call, leg.id, "transfer_incoming")
    out.insert(0, fx.StopPlayback(_ringback_id(call)))
    holder = call.holder or call.talking_leg
    kept = call.other(holder)
    digits = "".join(ch for ch in call.number_of(kept) if ch.isdigit())[:20]
    briefing = {incoming}
    if digits:
        said = f"{call.call_id}-who{len(call.record.transfers)}"
        out.append(fx.SayDigits(leg.id, digits, said))
        briefing.add(said)

    def complete(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        if leg.id in call.leaving:
            return []  # it hung up while briefed: its end fails the transfer (target_ended)
        done: Effects = [fx.AddToBridge(call.bridge_id, (leg.id,))]
        call.transfer = call.holder = None
        call.kept = kept  # the caller's channel, or the leg a calling employee handed on
        call.talking_leg, call.callee_leg = leg.id, leg.record
        call.record.callee = ctx.directory.party(leg.target)
        call.record.transfers[-1]["result"] = "completed"
        by = call.number_of(holder)
        done.append(fx.Emit("call.transferred", {"by": by, "to": leg.target, "rule": "XFER-2"}))
        if holder in call.alive:
            done.append(fx.Hangup(holder, q850.NORMAL, "cancel_leg"))
        return [*done, *persist(call)]

    return out + wait_playbacks(call, ctx, now, briefing, complete)


def transfer_failed(call: Call, ctx: SessionContext, now: datetime, result: str) -> Effects:
    holder = call.holder or call.talking_leg
    kept = call.other(holder)
    call.transfer = call.holder = None
    out: Effects = [fx.StopPlayback(_ringback_id(call))]
    if call.record.transfers:
        call.record.transfers[-1]["result"] = result
    to = call.record.transfers[-1]["to"]
    out.append(fx.Emit("call.transfer", {"to": to, "result": result, "rule": "XFER-2"}))
    if holder in call.alive:
        return out + play_to(call, kept, "target_busy")[1]  # back to the employee who transferred
    if kept != call.caller_channel:
        # A calling employee handed the far end on and left: nobody is left to take it.
        call.record.hangup_by, call.record.hangup_cause = "callguard", q850.NORMAL
        return [*out, fx.Hangup(kept, q850.NORMAL, "cancel_leg")]
    # The one who transferred has gone: nobody is left for the caller but a message.
    call.message_for = to
    return out + message.take_message(call, ctx, now, to)


def target_ended(call: Call, ctx: SessionContext, leg: Leg, cause: int | None, now: datetime) -> Effects:
    """The target's phone ended before taking over: it never answered, or it hung up while it
    was briefed (then it is no completed transfer either)."""
    result = "target_hung_up" if leg.state is LegState.up else q850.unanswered(cause, "unavailable")
    leg.state = LegState.gone
    return transfer_failed(call, ctx, now, result)
