"""A call refused: what the refusal leaves on the record, and the prompt that says why."""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import Call, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows.common import add_violation, provisional
from callguard.calls.flows.dialogue import play
from callguard.policy import Refuse

Effects = list[fx.Effect]


def note_refusal(call: Call, decision: Refuse, now: datetime) -> Effects:
    """What a refusal leaves on the record: its reason, cause, violation and SEC-1 block."""
    record = call.record
    record.disposition = decision.reason
    record.hangup_cause, record.hangup_by = decision.cause, "callguard"
    if decision.number_class is not None:
        record.direction, record.number_class = "outbound", decision.number_class
    out: Effects = []
    if decision.violation is not None:
        out += add_violation(call, decision.violation, now)
    block = decision.new_block
    if block is not None:
        until = block.until.isoformat() if block.until else None
        out += [
            fx.Block(block),
            fx.Emit(
                "alert.caller_blocked",
                {"caller": block.pattern, "reason": block.reason, "until": until, "rule": "SEC-1"},
            ),
        ]
    return out


def refuse(call: Call, ctx: SessionContext, now: datetime, decision: Refuse, noted: bool = False) -> Effects:
    """Refuse the call; with a prompt, the caller hears why (early media) before the SIP error."""
    out: Effects = []
    if not noted:
        out += note_refusal(call, decision, now)
        if decision.prompt is not None:  # the announcement takes seconds: keep the violation safe
            out.append(provisional(call))

    def hang_up(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        call.phase = Phase.ending
        return [fx.Hangup(call.caller_channel, decision.cause)]

    if decision.prompt is None:
        return out + hang_up(call, ctx, now)
    call.phase = Phase.announcing
    if not call.caller_answered:
        out.append(fx.Progress(call.caller_channel))
    return out + play(call, ctx, now, decision.prompt, hang_up)
