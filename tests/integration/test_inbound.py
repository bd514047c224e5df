"""Calls from outside through the lab's PSTN trunk (POLICY SEC-1, ANS-5)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from callguard.lab import Lab
from tests.integration.conftest import AUTO_BLOCK_CALLS
from tests.integration.harness import AriWatch, Harness, MqttWatch, now

pytestmark = pytest.mark.lab


def _cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """`callguard block ...` as an operator types it, against the lab's database."""
    assert lab.state is not None
    return subprocess.run(
        [sys.executable, "-m", "callguard", "block", *args, "--db", lab.state.database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_blocked_caller_is_refused_politely_and_no_phone_rings(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """SEC-1: an operator blocks a number; its next call hears the prompt and gets 403, and the
    desk phone never rings. Unblocked, the same caller gets through."""
    added = _cli(lab, "add", "13800138000", "--reason", "harassing calls", "--by", "ma.lin")
    assert added.returncode == 0, added.stderr
    await asyncio.sleep(1.0)  # the service refreshes its copy of the list every 0.5 s here
    try:
        t0 = now()
        phone = await harness.phone("1003", "answer", answer_after_ms=200)
        caller = await harness.outside_call("13800138000", "1003")
        assert await caller.wait() == 0
        assert caller.saw("PROGRESS") and caller.final_code() == 403 and not caller.saw("RINGING")
        assert phone.events() == []
        rec = await harness.wait_record(t0, "1003")
        assert rec["disposition"] == "blocked_caller" and rec["decisions"][0]["rule"] == "SEC-1"
        assert rec["direction"] == "inbound" and rec["caller"]["number"] == "13800138000"
        assert ari_watch.prompts(rec["call_id"]) == ["blocked_caller"]
    finally:
        removed = _cli(lab, "remove", "13800138000")
    assert removed.returncode == 0, removed.stderr
    await asyncio.sleep(1.0)
    again = await harness.outside_call("13800138000", "1003", talk_ms=300)
    assert await again.wait() == 0 and again.saw("ANSWERED") and await phone.wait() == 0
    await harness.wait_clean()


async def test_repeat_caller_is_blocked_automatically_but_reaches_the_duty_line(
    harness: Harness, lab: Lab, mqtt: MqttWatch
) -> None:
    """SEC-1: more than AUTO_BLOCK_CALLS calls in the window block the number for a while (an
    alert is published, `block list` shows it); ANS-5: the duty line still rings for it."""
    number = "13912345678"
    try:
        t0 = now()
        for _ in range(AUTO_BLOCK_CALLS):
            phone = await harness.phone("2003", "answer", answer_after_ms=100)
            call = await harness.outside_call(number, "2003", talk_ms=200)
            assert await call.wait() == 0 and call.saw("ANSWERED") and await phone.wait() == 0
        refused = await harness.outside_call(number, "2003")
        assert await refused.wait() == 0 and refused.final_code() == 403
        rec = await harness.wait_record(t0, "2003", disposition="blocked_caller")
        assert rec["decisions"][0]["blocked_until"] is not None
        alerts = [m for t, m in mqtt.messages if t == "callguard/labtest/alert/caller_blocked"]
        for _ in range(20):
            if alerts:
                break
            await asyncio.sleep(0.1)
            alerts = [m for t, m in mqtt.messages if t == "callguard/labtest/alert/caller_blocked"]
        assert alerts and alerts[-1]["caller"] == "139****5678"  # SEC-2: masked on MQTT
        listed = _cli(lab, "list", "--json")
        entries = [e for e in json.loads(listed.stdout) if e["pattern"] == number]
        assert entries and entries[0]["added_by"] == "callguard" and entries[0]["until"] is not None
        duty = await harness.phone("9101", "answer", answer_after_ms=100)
        urgent = await harness.outside_call(number, "9101", talk_ms=200)
        assert await urgent.wait() == 0 and urgent.saw("ANSWERED") and await duty.wait() == 0
    finally:
        _cli(lab, "remove", number)
    await harness.wait_clean()


# The forms a trunk may send one Chinese mobile in: (SIP From user part, the caller number
# Asterisk delivers). A space travels escaped as %20 in a SIP URI and arrives as a space.
MOBILE_FORMS = (
    ("+86%20138-0013-8000", "+86 138-0013-8000"),
    ("+86%20(138)%200013.8000", "+86 (138) 0013.8000"),
    ("+8613800138000", "+8613800138000"),
    ("008613800138000", "008613800138000"),
    ("+86-138-0013-8000", "+86-138-0013-8000"),
    ("8613800138000", "8613800138000"),
)


async def test_a_block_holds_whatever_form_the_trunk_sends(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """SEC-1: `block add +86 138-0013-8000` stores the normal form 13800138000; calls from that
    number in every form (+86 with spaces, dashes, dots, parentheses; 0086; 86) are refused with
    the blocked_caller prompt and no phone rings; the record keeps the caller ID as received."""
    added = _cli(lab, "add", "+86", "138-0013-8000", "--reason", "harassing calls", "--by", "ma.lin")
    assert added.returncode == 0, added.stderr
    try:
        listed = json.loads(_cli(lab, "list", "--json").stdout)
        assert [e["pattern"] for e in listed if e["reason"] == "harassing calls"] == ["13800138000"]
        await asyncio.sleep(1.0)  # the service refreshes its copy of the list every 0.5 s here
        phone = await harness.phone("1003", "answer", answer_after_ms=200)
        for form, received in MOBILE_FORMS:
            t0 = now()
            caller = await harness.outside_call(form, "1003")
            assert await caller.wait() == 0
            assert caller.saw("PROGRESS") and caller.final_code() == 403 and not caller.saw("RINGING"), form
            rec = await harness.wait_record(t0, "1003")
            assert (rec["disposition"], rec["decisions"][0]["rule"]) == ("blocked_caller", "SEC-1"), form
            assert rec["caller"]["number"] == received  # the record keeps it as received: evidence
            assert ari_watch.prompts(rec["call_id"]) == ["blocked_caller"]
        assert phone.events() == []  # the desk phone never rang
    finally:
        removed = _cli(lab, "remove", "+86 138 0013 8000")
    assert removed.returncode == 0, removed.stderr
    await harness.wait_clean()


async def test_a_repeat_caller_who_alternates_forms_is_blocked_after_the_same_count(
    harness: Harness, lab: Lab
) -> None:
    """SEC-1: calls are counted per number in normal form, so a caller whose caller ID comes as
    +86..., 0086... and 139... in turn is blocked after AUTO_BLOCK_CALLS calls, like one who does
    not alternate; the automatic block is stored in normal form."""
    forms = ("13912345670", "+8613912345670", "008613912345670", "+86-139-1234-5670")
    try:
        t0 = now()
        for i in range(AUTO_BLOCK_CALLS):
            phone = await harness.phone("2003", "answer", answer_after_ms=100)
            call = await harness.outside_call(forms[i % len(forms)], "2003", talk_ms=200)
            assert await call.wait() == 0 and call.saw("ANSWERED") and await phone.wait() == 0
        refused = await harness.outside_call(forms[AUTO_BLOCK_CALLS % len(forms)], "2003")
        assert await refused.wait() == 0 and refused.final_code() == 403
        rec = await harness.wait_record(t0, "2003", disposition="blocked_caller")
        assert rec["caller"]["number"] == forms[AUTO_BLOCK_CALLS % len(forms)]
        listed = json.loads(_cli(lab, "list", "--json").stdout)
        entries = [e for e in listed if e["pattern"] == "13912345670"]
        assert entries and entries[0]["added_by"] == "callguard"  # stored in normal form
        assert not [e for e in listed if e["pattern"] in forms[1:]]
    finally:
        _cli(lab, "remove", "13912345670")
    await harness.wait_clean()


async def test_callers_without_a_number_are_not_counted_as_one_repeat_caller(harness: Harness) -> None:
    """SEC-1: withheld callers ("anonymous") are different people: more of them than
    AUTO_BLOCK_CALLS within the window all get through (anonymous = "allow", the default)."""
    t0 = now()
    for _ in range(AUTO_BLOCK_CALLS + 2):
        phone = await harness.phone("2003", "answer", answer_after_ms=100)
        call = await harness.outside_call("anonymous", "2003", talk_ms=200)
        assert await call.wait() == 0 and call.saw("ANSWERED") and await phone.wait() == 0
    for _ in range(50):  # the last call's final record follows its provisional one
        records = [r for r in await harness.records(t0) if r["dialed"] == "2003"]
        if all(r["disposition"] != "in_progress" for r in records):
            break
        await asyncio.sleep(0.2)
    assert len(records) == AUTO_BLOCK_CALLS + 2
    assert {r["disposition"] for r in records} == {"answered"}
    assert {r["caller"]["number"] for r in records} == {"anonymous"}
    await harness.wait_clean()
