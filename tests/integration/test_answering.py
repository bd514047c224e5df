"""Answering rules through the lab (POLICY ANS-1..7, XFER-1..3): outside callers from the PSTN
trunk and colleagues, SIPp desk phones that ring, answer, stay silent or transfer, an ARI
witness for the prompts, and the records, violations and messages in SQLite.

The test config rings 3 times at 0.3 s a ring (0.9 s per hop); one test keeps China's 5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from callguard.lab import Lab
from callguard.lab.phones import SippRun
from callguard.store import list_messages, make_engine
from tests.integration.conftest import (
    EXTRA_TEST_CONFIG,
    INBOUND_TEST_CONFIG,
    RING_CADENCE_S,
    RINGS,
    answering_test_config,
    outbound_test_config,
)
from tests.integration.harness import AriWatch, Harness, MqttWatch, now

pytestmark = pytest.mark.lab

LIMIT_S = RINGS * RING_CADENCE_S


def _tick(run: SippRun, event: str) -> int:
    """When (SIPp clock, ms) the phone logged `event` first."""
    return next(t for t, e in run.events() if e == event)


def _messages_cli(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    """`callguard messages ...` as a colleague types it, against the lab's database."""
    return subprocess.run(
        [sys.executable, "-m", "callguard", "messages", *args, "--db", harness.state.database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _by_role(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {leg["number"]: leg for leg in rec["legs"] if leg["role"] == "callee"}


async def test_unanswered_phone_rolls_over_after_three_rings(
    harness: Harness, ari_watch: AriWatch, mqtt: MqttWatch
) -> None:
    """ANS-1 + ANS-3 + ANS-4: an outside caller hears the department's greeting, then 1003
    rings 3 rings counted from its 180, is cancelled with a violation, and the admin hunt
    group (the front desk) answers."""
    t0 = now()
    silent = await harness.phone("1003", "no_answer")
    desk = await harness.phone("8000", "answer", answer_after_ms=200)
    caller = await harness.outside_call("01088886666", "1003", talk_ms=800)
    assert await caller.wait(timeout=30) == 0 and await silent.wait() == 0 and await desk.wait() == 0
    # After the greeting's early media (183), Asterisk plays the ringback in the audio itself.
    assert caller.saw("PROGRESS") and caller.saw("ANSWERED")
    assert silent.saw("CANCELLED") and desk.saw("ANSWERED")
    rang_s = (_tick(silent, "CANCELLED") - _tick(silent, "INVITE_RECEIVED")) / 1000
    assert LIMIT_S - 0.05 <= rang_s <= LIMIT_S + 0.2  # the phone's own clock: 180 sent → CANCEL
    rec = await harness.wait_record(t0, "1003")
    assert rec["disposition"] == "answered" and rec["callee"]["number"] == "8000"
    assert [h["reason"] for h in rec["decisions"][0]["hops"]] == ["person", "hunt_group", "operator"]
    legs = _by_role(rec)
    assert legs["1003"]["answered_at"] is None and legs["8000"]["rings_at_answer"] == 1
    [violation] = await harness.violations(rec["call_id"])
    assert (violation["rule"], violation["extension"], violation["person"]) == ("ANS-1", "1003", "chen.jie")
    # ANS-4: the greeting of the number dialled, before any phone rang.
    assert ari_watch.prompts(rec["call_id"]) == ["greeting_admin"]
    greeted = next(
        _ts(e["timestamp"])
        for e in ari_watch.events
        if e.get("type") == "PlaybackFinished" and "greeting_admin" in e["playback"]["media_uri"]
    )
    assert greeted <= _ts(legs["1003"]["started_at"])
    await harness.wait_clean()
    assert "hop" in await mqtt.wait_ended(rec["call_id"])


async def test_busy_and_offline_hops_are_skipped_at_once(harness: Harness) -> None:
    """ANS-3: 2003 is busy and the next of the sales hunt group (in order) is 2004, who answers
    at once; a colleague whose phone cannot be reached is skipped after offline_after_s."""
    t0 = now()
    busy = await harness.phone("2003", "busy")
    next_one = await harness.phone("2004", "answer", answer_after_ms=100)
    caller = await harness.outside_call("02166667777", "2003", talk_ms=300)
    assert await caller.wait(timeout=30) == 0 and await busy.wait() == 0 and await next_one.wait() == 0
    assert caller.saw("ANSWERED") and next_one.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2003")
    legs = _by_role(rec)
    assert legs["2003"]["hangup_cause"] == 17
    assert rec["callee"]["number"] == "2004" and await harness.violations(rec["call_id"]) == []
    waited = datetime.fromisoformat(legs["2004"]["started_at"]) - datetime.fromisoformat(
        legs["2003"]["ended_at"]
    )
    assert waited.total_seconds() < 0.5
    await harness.wait_clean()


async def test_last_hop_takes_a_message(
    harness: Harness, lab: Lab, ari_watch: AriWatch, mqtt: MqttWatch
) -> None:
    """ANS-3 + XFER-3: nobody in the chain answers; the last hop does not hang up on the caller
    but offers a message, records it after the tone until #, stores it and announces it."""
    t0 = now()
    phones = [await harness.phone(ext, "no_answer") for ext in ("1003", "8000", "8001")]
    caller = await harness.outside_call("13512345678", "1003", talk_ms=None, dtmf=((9000, "~~#"),))
    assert await caller.wait(timeout=60) == 0
    for phone in phones:
        assert await phone.wait() == 0 and phone.saw("CANCELLED")
    assert caller.saw("ANSWERED") and caller.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "1003")
    assert rec["disposition"] == "message" and rec["hangup_by"] == "callguard"
    assert ari_watch.prompts(rec["call_id"]) == ["greeting_admin", "target_unavailable", "message_saved"]
    violations = sorted(await harness.violations(rec["call_id"]), key=lambda v: v["at"])
    assert [(v["rule"], v["extension"]) for v in violations] == [
        ("ANS-1", e) for e in ("1003", "8000", "8001")
    ]
    engine = make_engine(harness.state.database_url)
    try:
        [message] = [m for m in await list_messages(engine, "1003") if m["call_id"] == rec["call_id"]]
    finally:
        await engine.dispose()
    assert message["for_person"] == "chen.jie" and message["caller_number"] == "13512345678"
    assert message["duration_s"] >= 1
    assert lab.asterisk_recording(message["recording"]).stat().st_size > 8000
    events = [m for t, m in mqtt.messages if t == "callguard/labtest/message/left"]
    assert events and events[-1]["call_id"] == rec["call_id"]
    listed = _messages_cli(harness, "list", "--for", "1003", "--json")
    assert any(m["id"] == message["id"] for m in json.loads(listed.stdout))
    done = _messages_cli(harness, "done", str(message["id"]), "--by", "chen.jie")
    assert done.returncode == 0, done.stderr
    still_open = json.loads(_messages_cli(harness, "list", "--for", "1003", "--json").stdout)
    assert all(m["id"] != message["id"] for m in still_open)
    await harness.wait_clean()


async def test_manager_calls_land_at_the_assistant_first(harness: Harness) -> None:
    """XFER-1: an outside call for 刘洋 (2001) rings his assistant 孙慧 (2002), not him."""
    t0 = now()
    assistant = await harness.phone("2002", "answer", answer_after_ms=200)
    caller = await harness.outside_call("02000000001", "2001", talk_ms=300)
    assert await caller.wait(timeout=30) == 0 and await assistant.wait() == 0
    assert assistant.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2001")
    assert rec["callee"]["number"] == "2002" and rec["decisions"][0]["rule"] == "XFER-1"
    assert [leg["number"] for leg in rec["legs"] if leg["role"] == "callee"] == ["2002"]
    await harness.wait_clean()


async def test_assistant_not_answering_continues_to_the_manager_and_bypass_rings_him_directly(
    harness: Harness,
) -> None:
    """XFER-1: if the assistant does not answer, the manager's chain continues with him; the
    manager's listed key customer and another manager reach him directly."""
    t0 = now()
    assistant = await harness.phone("2002", "no_answer")
    manager = await harness.phone("2001", "answer", answer_after_ms=100)
    caller = await harness.outside_call("02000000002", "2001", talk_ms=300)
    assert await caller.wait(timeout=30) == 0 and await assistant.wait() == 0 and await manager.wait() == 0
    assert assistant.saw("CANCELLED") and manager.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2001")
    assert rec["callee"]["number"] == "2001"
    for caller_number, dial in (("13900001111", "outside"), ("1001", "internal")):
        t1 = now()
        manager = await harness.phone("2001", "answer", answer_after_ms=100)
        if dial == "outside":
            call = await harness.outside_call(caller_number, "2001", talk_ms=300)
        else:
            call = await harness.dial(caller_number, "2001", talk_ms=300)
        assert await call.wait(timeout=30) == 0 and await manager.wait() == 0 and manager.saw("ANSWERED")
        rec = await harness.wait_record(t1, "2001")
        assert [leg["number"] for leg in rec["legs"] if leg["role"] == "callee"] == ["2001"]
    await harness.wait_clean()


async def test_late_answer_hears_the_apology_and_the_answerer_a_whisper(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """ANS-2: a colleague's call rings on past the limit (no rollover inside the company); the
    answer after 6 rings brings the apology to the caller and a whisper to the answerer first."""
    t0 = now()
    phone = await harness.phone("2003", "answer", answer_after_ms=int(5.5 * RING_CADENCE_S * 1000))
    # The caller stays past the apology (2.7 s), so that both prompts are heard to the end.
    caller = await harness.dial("2004", "2003", talk_ms=4000)
    assert await caller.wait(timeout=30) == 0 and await phone.wait() == 0
    rec = await harness.wait_record(t0, "2003")
    leg = _by_role(rec)["2003"]
    assert rec["disposition"] == "answered" and leg["rings_at_answer"] == 6
    assert ari_watch.prompts(rec["call_id"]) == ["apology"]
    assert ari_watch.prompts(leg["channel_id"]) == ["caller_waited"]
    assert [v["rule"] for v in await harness.violations(rec["call_id"])] == ["ANS-1"]
    await harness.wait_clean()


async def test_duty_line_rings_at_once_and_a_missed_limit_is_severe(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """ANS-5: no greeting, no diversion; past its limit it keeps ringing and the breach is high."""
    t0 = now()
    duty = await harness.phone("9101", "answer", answer_after_ms=int(4 * RING_CADENCE_S * 1000))
    caller = await harness.outside_call("110", "9101", talk_ms=300)
    assert await caller.wait(timeout=30) == 0 and await duty.wait() == 0
    assert not caller.saw("PROGRESS") and duty.saw("ANSWERED")
    rec = await harness.wait_record(t0, "9101")
    assert rec["decisions"][0]["rule"] == "ANS-5" and rec["callee"]["number"] == "9101"
    [violation] = await harness.violations(rec["call_id"])
    assert violation["rule"] == "ANS-1" and violation["severity"] == "high"
    assert "greeting" not in " ".join(ari_watch.prompts(rec["call_id"]))
    assert "call.priority_line_unanswered" in harness.callguard_log_events(rec["call_id"])
    await harness.wait_clean()


async def test_declining_a_colleague_is_a_violation(harness: Harness) -> None:
    """ANS-6: an internal call declined by an idle phone."""
    t0 = now()
    phone = await harness.phone("1003", "decline")
    caller = await harness.dial("2004", "1003")
    assert await caller.wait() == 0 and caller.final_code() == 403 and await phone.wait() == 0
    rec = await harness.wait_record(t0, "1003")
    [violation] = await harness.violations(rec["call_id"])
    assert (violation["rule"], violation["extension"], violation["reason"]) == (
        "ANS-6",
        "1003",
        "declined an internal call",
    )
    await harness.wait_clean()


async def test_transfer_by_feature_code_briefs_the_target(harness: Harness, ari_watch: AriWatch) -> None:
    """XFER-2: 1003 answers an outside call and types *2 2003 #; the caller hears the hold
    prompt, 2003 hears who is coming, then talks with the caller; 1003 is released."""
    t0 = now()
    first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=((500, "*22003#"),))
    # 2003 talks long enough to hear the whole whisper: the prompt (3.4 s), then the caller's
    # twelve digits (~10 s in the lab's English digits).
    target = await harness.phone("2003", "answer", answer_after_ms=300, talk_ms=17_000)
    caller = await harness.outside_call("075512345678", "1003", talk_ms=None)
    assert await caller.wait(timeout=40) == 0 and await first.wait() == 0 and await target.wait() == 0
    assert first.saw("BYE_RECEIVED") and target.saw("ANSWERED") and caller.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "1003")
    assert rec["callee"]["number"] == "2003" and rec["hangup_by"] == "callee"
    [transfer] = rec["transfers"]
    assert (transfer["by"], transfer["to"], transfer["result"]) == ("1003", "2003", "completed")
    assert "transfer_hold" in ari_watch.prompts(rec["call_id"])
    # 2003 hears that a call comes, and whose: the caller's number, digit by digit.
    assert ari_watch.playbacks(_by_role(rec)["2003"]["channel_id"]) == [
        "sound:callguard/transfer_incoming",
        "digits:075512345678",
    ]
    await harness.wait_clean()


async def test_office_hours_closed_and_after_hours_duty(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """ANS-7: outside office hours an outside call hears the closed-office prompt, or, where the
    department says so, rings the duty line. The duty line itself always rings."""
    closed = INBOUND_TEST_CONFIG + answering_test_config(office_hours='days = []\nafter_hours = "closed"\n')
    lab.reconfigure(outbound_test_config(), closed)
    try:
        t0 = now()
        caller = await harness.outside_call("02100000000", "1003")
        assert await caller.wait() == 0 and caller.saw("PROGRESS") and caller.final_code() == 480
        rec = await harness.wait_record(t0, "1003")
        assert rec["disposition"] == "office_closed" and ari_watch.prompts(rec["call_id"]) == [
            "closed_office"
        ]
        lab.reconfigure(
            outbound_test_config(), closed.replace('after_hours = "closed"', 'after_hours = "duty"')
        )
        t1 = now()
        duty = await harness.phone("9101", "answer", answer_after_ms=200)
        caller = await harness.outside_call("02100000000", "1003", talk_ms=300)
        assert await caller.wait() == 0 and caller.saw("ANSWERED") and await duty.wait() == 0
        rec = await harness.wait_record(t1, "1003")
        assert rec["callee"]["number"] == "9101" and rec["decisions"][0]["rule"] == "ANS-7"
    finally:
        lab.reconfigure(outbound_test_config(), EXTRA_TEST_CONFIG)
    await harness.wait_clean()


async def test_real_chinese_cadence_three_rings_is_fifteen_seconds(harness: Harness, lab: Lab) -> None:
    """ANS-1 at China's real cadence (1 s on, 4 s off): the rollover comes 15 s after the 180."""
    lab.reconfigure(outbound_test_config(), INBOUND_TEST_CONFIG + answering_test_config(cadence_s=5.0))
    try:
        t0 = now()
        silent = await harness.phone("1003", "no_answer")
        desk = await harness.phone("8000", "answer", answer_after_ms=200)
        caller = await harness.outside_call("01088880000", "1003", talk_ms=300)
        assert await caller.wait(timeout=60) == 0 and await silent.wait() == 0 and await desk.wait() == 0
        rang_s = (_tick(silent, "CANCELLED") - _tick(silent, "INVITE_RECEIVED")) / 1000
        assert 15.0 - 0.05 <= rang_s <= 15.0 + 0.2
        rec = await harness.wait_record(t0, "1003")
        assert rec["callee"]["number"] == "8000"
    finally:
        lab.reconfigure(outbound_test_config(), EXTRA_TEST_CONFIG)
    await harness.wait_clean()


def _ts(value: str) -> datetime:
    """ARI's 2026-11-22T20:06:36.452+0000 or the records' ISO times."""
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(value)


async def test_transfer_nobody_takes_after_the_employee_left_ends_in_a_message(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """XFER-2 + XFER-3: 1003 hands the caller to 2004 and hangs up at once; 2004 does not
    answer within its rings, so the caller, alone, is offered a message for 2004."""
    t0 = now()
    first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=((500, "*22004#"),), talk_ms=400)
    target = await harness.phone("2004", "no_answer")
    caller = await harness.outside_call("075587654321", "1003", talk_ms=None, dtmf=((15_000, "~~#"),))
    assert await caller.wait(timeout=60) == 0 and await first.wait() == 0 and await target.wait() == 0
    assert target.saw("CANCELLED") and caller.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "1003")
    [transfer] = rec["transfers"]
    assert (transfer["to"], transfer["result"]) == ("2004", "no_answer")
    assert rec["disposition"] == "message"
    assert "target_unavailable" in ari_watch.prompts(rec["call_id"])
    engine = make_engine(harness.state.database_url)
    try:
        [message] = [m for m in await list_messages(engine, "2004") if m["call_id"] == rec["call_id"]]
    finally:
        await engine.dispose()
    assert message["for_person"] == "wu.fang"
    await harness.wait_clean()
