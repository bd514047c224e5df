"""Who hung up, and what that ends: the caller leaving, a leg ending in each phase, the final
record (LOG-1, priced for LOG-4), a resync after missed events and the crash fail-safe."""

from __future__ import annotations

from datetime import datetime

import structlog

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import RINGING, Call, LegState, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows import ringing, transfer
from callguard.policy import q850
from callguard.policy.tariffs import rate_call

log = structlog.get_logger("callguard.calls")

Effects = list[fx.Effect]


def on_gone(
    call: Call, ctx: SessionContext, event: ev.ChannelGone | ev.StasisEnded, now: datetime
) -> Effects:
    """The caller leaves callguard at StasisEnd (its dialplan then hangs it up, unseen by ARI),
    with the cause its hangup request carried. A leg callguard created stays until
    ChannelDestroyed, whose cause is the final one (a dial timeout requests hangup with 32 but
    ends with 19 "no answer")."""
    channel_id = event.channel_id
    if channel_id not in call.alive:
        return []
    call.alive.discard(channel_id)
    cause = (event.cause if isinstance(event, ev.ChannelGone) else None) or call.causes.get(channel_id)
    at = event.at or now
    is_caller = channel_id == call.caller_channel
    leg = call.legs.get(channel_id)
    record = call.caller_leg if is_caller else (leg.record if leg else None)
    if record is not None:
        record.ended_at, record.hangup_cause = at, cause
        record.hangup_cause_text = event.cause_txt if isinstance(event, ev.ChannelGone) else None
    out = _ended_in_phase(call, ctx, channel_id, cause, now)
    if not call.alive:
        out += finish(call, ctx, at)
    return out


def _ended_in_phase(
    call: Call, ctx: SessionContext, channel_id: str, cause: int | None, now: datetime
) -> Effects:
    is_caller = channel_id == call.caller_channel
    leg = call.legs.get(channel_id)
    if call.phase in (Phase.announcing, Phase.authorizing, Phase.new):
        if not is_caller:
            return []
        if call.phase is not Phase.announcing:
            _caller_left(call, cause)
        return _end(call, ringing.cancel_pending(call))
    if call.phase in RINGING and is_caller:
        _caller_left(call, cause)
        return _end(call, ringing.cancel_pending(call))
    if call.phase in RINGING and leg is not None:
        return ringing.leg_ended(call, ctx, leg, cause, now)
    if call.phase is not Phase.talking:
        return []
    if leg is not None and leg is call.transfer:
        return transfer.target_ended(call, ctx, leg, cause, now)
    if call.transfer is not None and channel_id == call.holder:
        return []  # handed over before the new phone answered: the other party waits for it
    if channel_id in (call.kept, call.talking_leg):
        return _talk_ended(call, is_caller, cause)
    return []


def _caller_left(call: Call, cause: int | None) -> None:
    call.record.disposition = "abandoned"
    call.record.hangup_by = "caller"
    call.record.hangup_cause = cause


def _end(call: Call, effects: Effects) -> Effects:
    """The call is ending: nothing said to the caller any more, nothing asked."""
    call.phase = Phase.ending
    call.stack.clear()
    return effects


def _talk_ended(call: Call, is_caller: bool, cause: int | None) -> Effects:
    call.record.hangup_by = "caller" if is_caller else "callee"
    call.record.hangup_cause = cause or q850.NORMAL
    out: Effects = []
    if call.transfer is not None:  # XFER-2: the party being handed on left mid-transfer
        result = f"{call.record.hangup_by}_hung_up"
        call.record.transfers[-1]["result"] = result
        out.append(fx.Emit("call.transfer", {"to": call.transfer.target, "result": result, "rule": "XFER-2"}))
    # Everyone else goes too: the employee, and a transfer target ringing or being briefed, so
    # that no leg (and no "in use" phone) outlives the call.
    out += [fx.Hangup(other, q850.NORMAL, "cancel_leg") for other in sorted(call.alive)]
    return _end(call, out)


def finish(call: Call, ctx: SessionContext, at: datetime) -> Effects:
    out: Effects = [fx.DestroyBridge(call.bridge_id)] if call.bridged else []
    call.phase = Phase.done
    call.stack.clear()
    record = call.record
    record.ended_at = at
    out += _price(call, ctx)
    ended = {
        "disposition": record.disposition,
        "hangup_by": record.hangup_by,
        "hangup_cause": record.hangup_cause,
        "talk_s": record.talk_s,
        "ext": record.callee.number if record.callee else None,
    }
    forget: Effects = [fx.ForgetFacts(call.caller_channel)] if call.persisted else []
    return [*out, fx.Emit("call.ended", ended), fx.Submit(record), *forget]


def _price(call: Call, ctx: SessionContext) -> Effects:
    """LOG-4: an outside call that was dialled out gets its cost and tariff entry."""
    dial, outbound = call.dial_out, ctx.outbound
    if dial is None or outbound is None:
        return []
    record = call.record
    record.cost, record.tariff = rate_call(
        outbound.tariffs, dial.number, dial.number_class, record.answered_at, record.ended_at
    )
    if record.cost is None:
        log.warning("cost.unrated", number_class=dial.number_class, rule="LOG-4")
        return []
    return [fx.Charge(record)]


def resync(call: Call) -> Effects:
    """Events may have been missed (disconnect, restart): ask Asterisk what is still alive."""
    return [fx.CheckChannels(tuple(sorted(call.alive)))]


def resynced(call: Call, event: ev.ResyncChecked, now: datetime) -> Effects:
    if not event.reachable or call.phase is Phase.done:
        return []
    out: Effects = []
    for leg in list(call.legs.values()):
        if leg.state is LegState.creating and leg.id in call.alive:
            out += ringing.dial(call, leg, now)  # the leg exists but its StasisStart was missed
    return out


def abandon_after_crash(call: Call, error: str, now: datetime) -> Effects:
    """Fail closed: end every side, free the bridge, and still write what is known."""
    out: Effects = [
        fx.Hangup(channel_id, q850.NORMAL, "hangup_after_crash") for channel_id in sorted(call.alive)
    ]
    if call.bridged:
        out.append(fx.DestroyBridge(call.bridge_id))
    call.record.decisions.append({"action": "error", "reason": error})
    call.record.disposition = "error"
    call.record.ended_at = now
    call.phase = Phase.done
    call.stack.clear()
    forget: Effects = [fx.ForgetFacts(call.caller_channel)] if call.persisted else []
    return [*out, fx.Submit(call.record), *forget]
