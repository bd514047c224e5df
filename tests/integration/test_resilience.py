"""What happens to calls when a part goes away: callguard, its websocket, Asterisk, the broker."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from callguard.lab import Lab
from callguard.lab.phones import SippRun
from tests.integration.conftest import DURATION_LIMIT_S
from tests.integration.harness import ANSWERED_CALL_TOPICS, Harness, MqttWatch, now
from tests.waiting import eventually

pytestmark = pytest.mark.lab


def _count_events(lab: Lab, event: str) -> int:
    assert lab.state is not None
    n = 0
    for line in Path(lab.state.callguard_log).read_text().splitlines():
        try:
            n += json.loads(line).get("event") == event
        except ValueError:
            continue
    return n


async def _wait_log(lab: Lab, event: str, at_least: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _count_events(lab, event) >= at_least:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"callguard never logged {event} x{at_least}")


async def _answered_call(harness: Harness, caller: str, callee: str) -> dict[str, object]:
    t0 = now()
    phone = await harness.phone(callee, "answer", answer_after_ms=200)
    call = await harness.dial(caller, callee, talk_ms=500)
    assert await call.wait() == 0 and await phone.wait() == 0
    assert call.saw("ANSWERED") and phone.saw("BYE_RECEIVED")
    return await harness.wait_record(t0, callee)


async def test_failsafe_when_callguard_is_not_running(harness: Harness, lab: Lab) -> None:
    """Documented fail-safe: known extensions are dialled directly, unknown numbers get 404,
    and nothing is recorded live while callguard is down (its CDR import records these calls
    when it is back: test_dialplan_records.py)."""
    lab.stop_controller()
    try:
        t0 = now()
        phone = await harness.phone("1002", "answer", answer_after_ms=200)
        call = await harness.dial("1001", "1002", talk_ms=500)
        assert await call.wait() == 0 and await phone.wait() == 0
        assert call.saw("ANSWERED") and phone.saw("BYE_RECEIVED")

        unknown = await harness.dial("1001", "4444")
        assert await unknown.wait() == 0
        assert unknown.final_code() == 404

        malformed = await harness.dial("1001", "100a2")
        assert await malformed.wait() == 0
        assert malformed.final_code() == 484
        assert [r for r in await harness.records(t0)] == []
        assert "callguard degraded" in lab.asterisk_log()
    finally:
        lab.start_controller()
    await harness.wait_clean()


async def test_websocket_dropped_between_calls(harness: Harness, lab: Lab) -> None:
    await _answered_call(harness, "1001", "1003")
    connects = _count_events(lab, "ari.connected")
    out = lab.asterisk_rx("ari shutdown websocket sessions")
    assert "error" not in out.lower()
    await _wait_log(lab, "ari.disconnected", 1)
    await _wait_log(lab, "ari.connected", connects + 1)
    lab.wait_controller_connected()
    rec = await _answered_call(harness, "1003", "2003")
    # Controlled again: callguard decided and recorded the second call.
    assert rec["disposition"] == "answered" and rec["decisions"][0]["action"] == "route"
    await harness.wait_clean()


async def test_asterisk_restarted_between_calls(harness: Harness, lab: Lab) -> None:
    await _answered_call(harness, "2001", "2002")
    connects = _count_events(lab, "ari.connected")
    lab.stop_asterisk()
    await _wait_log(lab, "ari.disconnected", 1)
    await asyncio.sleep(1.0)  # callguard is retrying against nothing
    lab.start_asterisk()
    await _wait_log(lab, "ari.connected", connects + 1, timeout=20)
    lab.wait_controller_connected()
    rec = await _answered_call(harness, "2002", "2001")
    assert rec["disposition"] == "answered"
    await harness.wait_clean()


async def test_callguard_killed_while_ringing_readopts_the_call(harness: Harness, lab: Lab) -> None:
    """The callee answers while no callguard runs; the next callguard finds the call in Stasis
    (Asterisk sends no new StasisStart), bridges it and records it."""
    t0 = now()
    phone = await harness.phone("2004", "answer", answer_after_ms=1500)
    call = await harness.dial("2003", "2004", talk_ms=1500)
    await _wait_log(lab, "call.ringing", _count_events(lab, "call.ringing") + 1)
    lab.stop_controller(kill=True)
    await asyncio.sleep(1.8)  # the phone answers meanwhile
    lab.start_controller()
    assert await call.wait() == 0 and await phone.wait() == 0
    assert call.saw("ANSWERED") and phone.saw("ANSWERED") and phone.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "2004")
    assert rec["readopted"] is True and rec["disposition"] == "answered"
    assert rec["talk_s"] >= 1.5
    await harness.wait_clean()


async def test_callguard_killed_during_talk_keeps_the_call(harness: Harness, lab: Lab) -> None:
    t0 = now()
    phone = await harness.phone("1002", "answer", answer_after_ms=200)
    call = await harness.dial("1001", "1002", talk_ms=3000)
    await _wait_log(lab, "call.answered", _count_events(lab, "call.answered") + 1)
    lab.stop_controller(kill=True)
    await asyncio.sleep(0.5)
    lab.start_controller()
    assert await call.wait() == 0 and await phone.wait() == 0
    # Nobody dropped the call: the caller talked its 3 s and hung up; the callee got that BYE
    # from the re-adopted session.
    assert call.saw("ANSWERED") and not call.saw("BYE_RECEIVED")
    assert phone.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "1002")
    assert rec["readopted"] is True and rec["disposition"] == "answered"
    assert rec["hangup_by"] == "caller" and rec["talk_s"] >= 3.0
    await harness.wait_clean()


async def test_call_that_ends_while_callguard_is_down_still_leaves_a_record(
    harness: Harness, lab: Lab
) -> None:
    """LOG-1: the caller hangs up while no callguard runs. The next callguard finds the callee
    alone in its bridge, hangs it up, and closes the call's provisional record."""
    t0 = now()
    phone = await harness.phone("2002", "answer", answer_after_ms=200)
    call = await harness.dial("2001", "2002", talk_ms=1000)
    await _wait_log(lab, "call.answered", _count_events(lab, "call.answered") + 1)
    lab.stop_controller(kill=True)
    assert await call.wait() == 0 and call.saw("ANSWERED")  # hung up while nobody watched
    lab.start_controller()
    assert await phone.wait() == 0 and phone.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "2002", disposition="ended_unobserved")
    assert rec["caller"]["number"] == "2001" and rec["callee"]["number"] == "2002"
    assert rec["decisions"][0]["action"] == "route"
    await harness.wait_clean()


async def test_calls_work_while_broker_is_down_and_events_resume(
    harness: Harness, lab: Lab, mqtt: MqttWatch
) -> None:
    mqtt_connects = _count_events(lab, "mqtt.connected")
    lab.stop_mosquitto()
    try:
        rec_down = await _answered_call(harness, "8001", "1003")
        assert rec_down["disposition"] == "answered"
    finally:
        lab.start_mosquitto()
    await _wait_log(lab, "mqtt.connected", mqtt_connects + 1, timeout=20)
    rec_up = await _answered_call(harness, "1003", "8001")
    assert "ended" in await mqtt.wait_ended(rec_up["call_id"])
    # Events of the call made during the outage waited in the outbox and were delivered.
    assert await mqtt.wait_ended(rec_down["call_id"]) == ANSWERED_CALL_TOPICS
    await harness.wait_clean()


async def test_outside_call_readopted_after_a_crash_keeps_its_duration_cap(
    harness: Harness, lab: Lab
) -> None:
    """OUT-4 across a restart: callguard is killed while a capped national call talks; the new
    process re-adopts it, recognises the outside call, and still ends it at the limit."""
    t0 = now()
    carrier = await harness.carrier(talk_ms=None)
    call = await harness.dial("1001", "001012345678", talk_ms=None, dtmf=((1000, "7#"),))
    await _wait_log(lab, "call.answered", _count_events(lab, "call.answered") + 1)
    lab.stop_controller(kill=True)
    await asyncio.sleep(0.5)
    lab.start_controller()
    assert await call.wait(timeout=40) == 0
    assert call.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "001012345678")
    # The carrier's BYE is sent beside the caller's and may be logged a moment after it.
    assert await eventually(lambda: carrier.saw("BYE_RECEIVED"))
    assert rec["readopted"] is True and rec["number_class"] == "national"
    assert rec["hangup_by"] == "callguard" and rec["talk_s"] < DURATION_LIMIT_S + 1
    assert [v["rule"] for v in await harness.violations(rec["call_id"])] == ["OUT-4"]
    await harness.wait_clean()


def _talk_ms(run: SippRun) -> int:
    """From the caller's 200 OK to the BYE it received, by the phone's own clock."""
    ticks = dict((msg, tick) for tick, msg in reversed(run.events()))
    return ticks["BYE_RECEIVED"] - ticks["ANSWERED"]


async def test_degraded_outside_call_is_ended_at_its_out4_limit(harness: Harness, lab: Lab) -> None:
    """OUT-4 without callguard: the generated dialplan dials the trunk with L(<limit ms>) from the
    config's local limit (the lab's: DURATION_LIMIT_S), so Asterisk itself ends the call there."""
    lab.stop_controller()
    try:
        carrier = await harness.carrier(talk_ms=None)  # the far end never hangs up
        call = await harness.dial("2003", "062345678", talk_ms=None)  # nor does the employee
        assert await call.wait(timeout=DURATION_LIMIT_S + 15) == 0
        assert call.saw("ANSWERED") and call.saw("BYE_RECEIVED") and carrier.saw("BYE_RECEIVED")
        assert DURATION_LIMIT_S * 1000 - 100 <= _talk_ms(call) <= DURATION_LIMIT_S * 1000 + 1500
        assert carrier.dialed() == ["62345678"]
        assert f"OUT-4 L({DURATION_LIMIT_S * 1000}:" in lab.asterisk_log()
    finally:
        lab.start_controller()
    await harness.wait_clean()
