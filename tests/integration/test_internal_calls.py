"""Internal calls through the real lab PBX: SIPp desk phones, Asterisk 22, callguard over ARI.

Each test asserts on what the caller's phone saw, what the callee's phone saw,
the call record in the database, and that Asterisk holds no channel or bridge afterwards.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import NO_ANSWER_TIMEOUT_S
from tests.integration.harness import ANSWERED_CALL_TOPICS, Harness, MqttWatch, now

pytestmark = pytest.mark.lab


async def test_answered_call_is_bridged_and_recorded(harness: Harness, mqtt: MqttWatch) -> None:
    t0 = now()
    callee = await harness.phone("1002", "answer", answer_after_ms=600)
    caller = await harness.dial("1001", "1002", talk_ms=2000)
    assert await caller.wait() == 0
    assert await callee.wait() == 0
    assert caller.saw("RINGING") and caller.saw("ANSWERED") and caller.final_code() is None
    assert callee.saw("ANSWERED") and callee.saw("BYE_RECEIVED")

    rec = await harness.wait_record(t0, "1002")
    assert rec["disposition"] == "answered"
    assert rec["caller"] == {"number": "1001", "name": "王丽 Wang Li", "department": "admin"}
    assert rec["callee"] == {"number": "1002", "name": "赵敏 Zhao Min", "department": "admin"}
    assert rec["hangup_by"] == "caller"
    assert rec["started_at"] <= rec["ringing_at"] <= rec["answered_at"] <= rec["ended_at"]
    # SIPp held the call for 2.0 s after its ACK; the answer came before the ACK.
    assert rec["talk_s"] >= 2.0
    assert [leg["role"] for leg in rec["legs"]] == ["caller", "callee"]
    assert rec["decisions"][0]["action"] == "route" and rec["decisions"][0]["target"] == "1002"
    await harness.wait_clean()

    assert await mqtt.wait_ended(rec["call_id"]) == ANSWERED_CALL_TOPICS
    assert "call.answered" in harness.callguard_log_events(rec["call_id"])


async def test_callee_hangs_up_first(harness: Harness) -> None:
    t0 = now()
    callee = await harness.phone("2003", "answer", answer_after_ms=300, talk_ms=1000)
    caller = await harness.dial("2004", "2003", talk_ms=None)
    assert await caller.wait() == 0 and await callee.wait() == 0
    assert caller.saw("ANSWERED") and caller.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "2003")
    assert rec["disposition"] == "answered" and rec["hangup_by"] == "callee"
    assert rec["talk_s"] >= 1.0
    await harness.wait_clean()


async def test_busy_callee(harness: Harness) -> None:
    t0 = now()
    callee = await harness.phone("2004", "busy")
    caller = await harness.dial("2003", "2004")
    assert await caller.wait() == 0 and await callee.wait() == 0
    assert caller.final_code() == 486 and not caller.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2004")
    assert rec["disposition"] == "busy" and rec["hangup_cause"] == 17
    assert rec["answered_at"] is None and rec["callee"]["number"] == "2004"
    await harness.wait_clean()


async def test_declined_call(harness: Harness) -> None:
    t0 = now()
    callee = await harness.phone("1003", "decline")
    caller = await harness.dial("1001", "1003")
    assert await caller.wait() == 0 and await callee.wait() == 0
    # Asterisk turns Q.850 cause 21 (call rejected) into 403 towards the caller.
    assert caller.final_code() == 403
    rec = await harness.wait_record(t0, "1003")
    assert rec["disposition"] == "declined" and rec["hangup_cause"] == 21
    await harness.wait_clean()


async def test_no_answer_times_out(harness: Harness) -> None:
    t0 = now()
    callee = await harness.phone("2002", "no_answer")
    caller = await harness.dial("2001", "2002")
    assert await caller.wait() == 0 and await callee.wait() == 0
    assert caller.saw("RINGING") and caller.final_code() == 480
    assert callee.saw("CANCELLED")
    rec = await harness.wait_record(t0, "2002")
    assert rec["disposition"] == "no_answer" and rec["answered_at"] is None
    from datetime import datetime

    rang = datetime.fromisoformat(rec["ended_at"]) - datetime.fromisoformat(rec["started_at"])
    assert NO_ANSWER_TIMEOUT_S <= rang.total_seconds() < NO_ANSWER_TIMEOUT_S + 2
    await harness.wait_clean()


async def test_caller_abandons_while_ringing(harness: Harness) -> None:
    t0 = now()
    callee = await harness.phone("8001", "no_answer")
    caller = await harness.dial("1003", "8001", cancel_after_ms=700)
    assert await caller.wait() == 0 and await callee.wait() == 0
    assert caller.final_code() == 487
    assert callee.saw("CANCELLED") and not callee.saw("ANSWERED")
    rec = await harness.wait_record(t0, "8001")
    assert rec["disposition"] == "abandoned" and rec["hangup_by"] == "caller"
    await harness.wait_clean()


async def test_unknown_extension_gets_404(harness: Harness) -> None:
    t0 = now()
    caller = await harness.dial("1001", "4321")
    assert await caller.wait() == 0
    assert caller.final_code() == 404
    rec = await harness.wait_record(t0, "4321")
    assert rec["disposition"] == "unknown_extension" and rec["callee"]["number"] is None
    assert (rec["hangup_by"], rec["hangup_cause"]) == ("callguard", 1)
    await harness.wait_clean()


async def test_letters_only_dial_string_is_refused_and_recorded(harness: Harness) -> None:
    t0 = now()
    caller = await harness.dial("1003", "abc")
    assert await caller.wait() == 0
    assert caller.final_code() == 484
    rec = await harness.wait_record(t0, "")
    assert rec["disposition"] == "malformed_number" and rec["caller"]["number"] == "1003"
    await harness.wait_clean()


async def test_malformed_dial_string_is_refused_not_cleaned(harness: Harness) -> None:
    """'100a2' must not become a call to 1002: it is refused and recorded as data."""
    t0 = now()
    callee = await harness.phone("1002", "answer", answer_after_ms=100)
    caller = await harness.dial("1001", "100a2")
    assert await caller.wait() == 0
    assert caller.final_code() == 484
    rec = await harness.wait_record(t0, "1002")
    assert rec["disposition"] == "malformed_number"
    assert not callee.saw("INVITE_RECEIVED")
    await callee.stop()
    await harness.wait_clean()


async def test_outside_call_on_the_trunk_reaches_the_extension_it_dialled(harness: Harness) -> None:
    """The PSTN trunk is identified by its address; the outside caller's number is kept as data,
    whatever characters SIP allows in it (this one is deliberately odd)."""
    t0 = now()
    outside = "+86'(10)!~*8888"
    callee = await harness.phone("2003", "answer", answer_after_ms=300)
    caller = await harness.outside_call(outside, "2003", talk_ms=800)
    assert await caller.wait() == 0 and await callee.wait() == 0
    assert caller.saw("ANSWERED") and callee.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "2003")
    assert rec["direction"] == "inbound" and rec["disposition"] == "answered"
    assert rec["caller"] == {"number": outside, "name": None, "department": None}
    assert rec["callee"]["name"] == "周强 Zhou Qiang"
    assert rec["decisions"][0]["greeting"] == "greeting_sales"  # ANS-4, before it rang
    await harness.wait_clean()
