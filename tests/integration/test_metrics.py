"""Prometheus metrics of the controller, scraped from the lab's [metrics] port while real calls run."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Harness, now

pytestmark = pytest.mark.lab

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as client:
        resp = await client.get(url, timeout=5)
    resp.raise_for_status()
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def wait_for(url: str, name: str, at_least: float, timeout: float = 10.0, **labels: str) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(url)
        if value(samples, name, **labels) >= at_least or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.1)


async def test_counters_and_gauges_move_with_real_calls(harness: Harness) -> None:
    url = harness.state.metrics_url
    before = await scrape(url)
    assert value(before, "callguard_ari_connects_total") >= 1
    assert value(before, "callguard_ari_connected") == 1
    assert value(before, "callguard_mqtt_connected") == 1

    # An answered internal call: while it talks, one session alive in state `talking`.
    t0 = now()
    callee = await harness.phone("1002", "answer", answer_after_ms=300)
    caller = await harness.dial("1001", "1002", talk_ms=3000)
    talking = await wait_for(url, "callguard_calls", 1, state="talking")
    assert value(talking, "callguard_calls", state="talking") == 1
    assert value(talking, "callguard_sessions_alive") >= 1
    assert await caller.wait() == 0 and await callee.wait() == 0
    await harness.wait_record(t0, "1002")

    # OUT-1: a premium number is refused, a decision and a violation by rule.
    premium = await harness.dial("2003", "016812345678")
    assert await premium.wait() == 0
    await harness.wait_record(t0, "016812345678")
    await harness.wait_clean()

    after = await wait_for(url, "callguard_sessions_alive", 0)
    moved = {
        f"{name}{labels}": value(after, name, **labels) - value(before, name, **labels)
        for name, labels in [
            ("callguard_call_events_total", {"event": "started"}),
            ("callguard_call_events_total", {"event": "answered"}),
            ("callguard_calls_ended_total", {"disposition": "answered"}),
            ("callguard_calls_ended_total", {"disposition": "premium_number"}),
            ("callguard_decisions_total", {"action": "refuse", "rule": "OUT-1"}),
            ("callguard_violations_total", {"rule": "OUT-1"}),
        ]
    }
    assert moved == {
        "callguard_call_events_total{'event': 'started'}": 2,
        "callguard_call_events_total{'event': 'answered'}": 1,
        "callguard_calls_ended_total{'disposition': 'answered'}": 1,
        "callguard_calls_ended_total{'disposition': 'premium_number'}": 1,
        "callguard_decisions_total{'action': 'refuse', 'rule': 'OUT-1'}": 1,
        "callguard_violations_total{'rule': 'OUT-1'}": 1,
    }
    # Every call made ARI requests (answer, dial, bridge, hangup...), each timed.
    requests = value(after, "callguard_ari_request_seconds_count", method="POST")
    assert requests - value(before, "callguard_ari_request_seconds_count", method="POST") >= 4
    assert value(after, "callguard_sessions_alive") == 0
    assert value(after, "callguard_calls", state="talking") == 0
    assert value(after, "callguard_journal_backlog") == 0
    assert value(after, "callguard_mqtt_outbox_depth") == 0
