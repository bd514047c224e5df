"""The Emitter's choke point counts calls, decisions, violations and alerts by rule ID."""

from __future__ import annotations

from callguard.events.notifier import Emitter
from callguard.metrics import REGISTRY


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_emitted_events_are_counted_by_event_and_rule() -> None:
    emit = Emitter(None)
    before = {
        "violation": count("callguard_violations_total", rule="ANS-1"),
        "decision": count("callguard_decisions_total", action="refuse", rule="SEC-1"),
        "alert": count("callguard_alerts_total", alert="toll_fraud"),
        "ended": count("callguard_calls_ended_total", disposition="busy"),
        "ringing": count("callguard_call_events_total", event="ringing"),
    }
    emit("call.ringing", call_id="c1", ext="1002")
    emit("call.decision", call_id="c1", action="refuse", rule="SEC-1", reason="blocked")
    emit("call.violation", call_id="c1", rule="ANS-1", kind="ring_limit")
    emit("call.ended", call_id="c1", disposition="busy")
    emit("alert.toll_fraud", ext="1003", dialed="0013800138000", reason="per_extension_per_hour")
    emit("cdr.imported", count=3)  # neither a call event nor an alert: not counted
    after = {
        "violation": count("callguard_violations_total", rule="ANS-1"),
        "decision": count("callguard_decisions_total", action="refuse", rule="SEC-1"),
        "alert": count("callguard_alerts_total", alert="toll_fraud"),
        "ended": count("callguard_calls_ended_total", disposition="busy"),
        "ringing": count("callguard_call_events_total", event="ringing"),
    }
    assert {k: after[k] - before[k] for k in after} == dict.fromkeys(after, 1.0)
