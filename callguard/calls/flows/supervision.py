"""LOG-6 supervision at the connect step: a sampled outside call hears the recording notice, then
its bridge is recorded. Which calls are sampled is policy (`policy.supervision`)."""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import Call, Leg, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows.dialogue import Then, play_to, wait_playbacks
from callguard.policy.supervision import NOTICE_PROMPT, RULE, recording_name, records_call

Effects = list[fx.Effect]


def sampled(call: Call, ctx: SessionContext) -> bool:
    settings = ctx.supervision
    if settings is None:
        return False
    record = call.record
    return records_call(call.call_id, settings.record_percent, record.direction, record.number_class)


def announced(leg: Leg, bridge: Then) -> Then:
    """`bridge` preceded by the notice and followed by the recording. The outside party hears the
    notice: the caller of a call from outside; on a call dialled out, both sides."""

    def announce(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        if call.phase is not Phase.talking:
            return []  # someone hung up during an earlier prompt
        first, out = play_to(call, call.caller_channel, NOTICE_PROMPT)
        ids = {first}
        if call.record.direction == "outbound":
            second, to_leg = play_to(call, leg.id, NOTICE_PROMPT)
            ids.add(second)
            out += to_leg
        return out + wait_playbacks(call, ctx, now, ids, _recorded(bridge))

    return announce


def _recorded(bridge: Then) -> Then:
    def record(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        settings = ctx.supervision
        if settings is None or call.phase is not Phase.talking:
            return bridge(call, ctx, now)
        name = recording_name(call.call_id)
        call.record.recording = f"{name}.{settings.format}"  # before bridge() persists the facts
        out = bridge(call, ctx, now)
        if not call.bridged:
            call.record.recording = None
            return out
        started = fx.Emit("call.recording", {"recording": call.record.recording, "rule": RULE})
        return [
            *out,
            fx.RecordBridge(call.bridge_id, name, settings.format, settings.max_duration_s, on_ok=(started,)),
        ]

    return record
