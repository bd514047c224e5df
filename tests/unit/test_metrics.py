"""The Emitter's choke point counts calls, decisions, violations and alerts by rule ID."""

from __future__ import annotations

import socket

import pytest

from callguard.config.metrics import MetricsSettings
from callguard.events.notifier import Emitter
from callguard.metrics import REGISTRY, LiveSources, serve_metrics


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


async def test_live_gauges_are_read_from_the_live_objects_at_scrape_time() -> None:
    states = ["ringing", "talking", "talking"]
    outbox = [3]
    sources = LiveSources(
        call_states=lambda: states,
        sessions_alive=lambda: len(states),
        journal_backlog=lambda: 7,
        mqtt_outbox=lambda: outbox[0],
        ari_connected=lambda: True,
    )
    assert await serve_metrics(MetricsSettings(), sources) is None  # port 0: nothing served
    assert count("callguard_calls", state="talking") == 2 and count("callguard_calls", state="ringing") == 1
    assert count("callguard_sessions_alive") == 3 and count("callguard_journal_backlog") == 7
    assert count("callguard_mqtt_outbox_depth") == 3 and count("callguard_ari_connected") == 1
    states.clear()
    outbox[0] = 0
    assert count("callguard_calls", state="talking") == 0 and count("callguard_sessions_alive") == 0
    assert count("callguard_mqtt_outbox_depth") == 0


async def test_a_taken_metrics_port_is_reported_and_callguard_runs_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        runner = await serve_metrics(MetricsSettings(port=port), LiveSources())
    finally:
        taken.close()
    assert runner is None  # no exception: call control does not stop for its figures
    assert "metrics.unavailable" in capsys.readouterr().out
