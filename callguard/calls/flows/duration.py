"""OUT-4: how long an outside call may last: a warning to the employee, then the limit."""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import Call, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows.common import add_violation
from callguard.policy import q850

Effects = list[fx.Effect]
WARNING, LIMIT = "duration_warning", "duration_limit"


def start_timers(call: Call, answered_at: datetime, now: datetime) -> Effects:
    duration = call.dial_out.duration if call.dial_out else None
    if duration is None:
        return []
    # Counted from the answer, so that a call re-adopted after a restart keeps its deadline.
    elapsed = (now - answered_at).total_seconds()
    warn_at = duration.limit_s - duration.warn_before_s
    out: Effects = []
    if elapsed < warn_at:
        out.append(fx.StartTimer(WARNING, warn_at - elapsed))
    out.append(fx.StartTimer(LIMIT, max(0.0, duration.limit_s - elapsed)))
    return out


def on_timer(call: Call, ctx: SessionContext, name: str, now: datetime) -> Effects:
    dial, outbound = call.dial_out, ctx.outbound
    if call.phase is not Phase.talking or dial is None or dial.duration is None or outbound is None:
        return []
    if name == WARNING:
        # Only the employee hears it: the playback targets their channel, not the bridge.
        playback_id = call.next_playback_id()
        call.record.prompts.append("duration_warning")
        fields = {
            "ext": call.request.from_line,
            "limit_s": dial.duration.limit_s,
            "rule": "OUT-4",
            "playback_id": playback_id,
        }
        return [
            fx.Play(call.caller_channel, "duration_warning", playback_id),
            fx.Emit("call.duration_warning", fields),
        ]
    out = add_violation(call, outbound.over_duration(call.request, dial), now)
    if dial.duration.hard_cap:
        call.record.decisions.append({"action": "hangup", "reason": "duration_cap", "rule": "OUT-4"})
        call.record.hangup_by, call.record.hangup_cause = "callguard", q850.NORMAL
        call.phase = Phase.ending
        out += [
            fx.Hangup(call.talking_leg, q850.NORMAL, "hangup_leg"),
            fx.Hangup(call.caller_channel, q850.NORMAL),
        ]
    return out
