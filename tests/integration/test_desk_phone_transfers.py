"""XFER-2 from real desk phones: keys sent as RFC 4733 events or SIP INFO reach callguard through
its bridge, from the phone that answered or the one that called, and a caller who hangs up at
any moment of a transfer leaves nothing behind."""

from __future__ import annotations

import time

from callguard.lab import Lab
from tests.integration.conftest import INBOUND_TEST_CONFIG, answering_test_config, outbound_test_config
from tests.integration.harness import AriWatch, Harness, now

# 1003 answers 100 ms after ringing and types the code 500 ms after the answer; seven keys take
# about 1.75 s, so the transfer starts some 2.3 s after the caller was answered. The hold prompt
# (transfer_hold) then plays for 2.7 s while the target rings. A target hears transfer_incoming
# (3.4 s) and the number coming (~0.85 s a digit in the lab's English digits) before it takes
# over, so each target below stays long enough for that.
CODE = ((500, "*22003#"),)
CODE_FOR_2004 = ((500, "*22004#"),)
TRANSFER_STARTS_MS = 2300


async def _transfer_with_keys_sent_as(harness: Harness, ari_watch: AriWatch, dtmf_mode: str) -> None:
    t0 = now()
    first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=CODE, dtmf_mode=dtmf_mode)
    target = await harness.phone("2003", "answer", answer_after_ms=300, talk_ms=16_000)
    caller = await harness.outside_call("075512345678", "1003", talk_ms=None)
    assert await caller.wait(timeout=40) == 0 and await first.wait() == 0 and await target.wait() == 0
    rec = await harness.wait_record(t0, "1003")
    [transfer] = rec["transfers"]
    assert (transfer["by"], transfer["to"], transfer["result"]) == ("1003", "2003", "completed")
    assert rec["callee"]["number"] == "2003" and first.saw("BYE_RECEIVED")
    assert "transfer_hold" in ari_watch.prompts(rec["call_id"])
    leg = next(leg for leg in rec["legs"] if leg["number"] == "1003")
    assert ari_watch.dtmf(leg["channel_id"]) == "*22003#"  # what Asterisk received from the phone
    await harness.wait_clean()


async def test_transfer_typed_as_rfc4733_events_by_the_answering_phone(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """The keys travel in the RTP stream, as desk phones send them by default; callguard's bridge
    decodes DTMF (mixing,dtmf_events) instead of passing RTP between the phones natively."""
    await _transfer_with_keys_sent_as(harness, ari_watch, "rfc4733")


async def test_transfer_typed_as_sip_info_by_the_answering_phone(
    harness: Harness, ari_watch: AriWatch
) -> None:
    await _transfer_with_keys_sent_as(harness, ari_watch, "info")


async def test_transfer_typed_as_rfc4733_events_by_the_calling_phone(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """2003 calls 1003, then hands 1003 on to 2004 with its own keys (RFC 4733): 1003 hears the
    hold prompt, 2004 hears who is coming (1003) and takes over; 2003 is released."""
    t0 = now()
    callee = await harness.phone("1003", "answer", answer_after_ms=100)
    target = await harness.phone("2004", "answer", answer_after_ms=300, talk_ms=9000)
    caller = await harness.dial("2003", "1003", talk_ms=None, dtmf=CODE_FOR_2004)
    assert await caller.wait(timeout=40) == 0 and await callee.wait() == 0 and await target.wait() == 0
    assert caller.saw("BYE_RECEIVED") and callee.saw("BYE_RECEIVED") and target.saw("ANSWERED")
    rec = await harness.wait_record(t0, "1003")
    [transfer] = rec["transfers"]
    assert (transfer["by"], transfer["to"], transfer["result"]) == ("2003", "2004", "completed")
    assert rec["callee"]["number"] == "2004" and rec["hangup_by"] == "callee"
    legs = {leg["number"]: leg["channel_id"] for leg in rec["legs"]}
    assert ari_watch.dtmf(legs["2003"]) == "*22004#"
    assert "transfer_hold" in ari_watch.prompts(legs["1003"])
    assert ari_watch.playbacks(legs["2004"]) == ["sound:callguard/transfer_incoming", "digits:1003"]
    await harness.wait_clean()


async def test_an_employee_hands_the_customer_they_called_to_a_colleague(harness: Harness) -> None:
    """On an outside call the employee who called types the code: the customer is handed to an
    extension (never through the trunk again), the employee is released, the carrier saw one call."""
    t0 = now()
    carrier = await harness.carrier(answer_after_ms=200)
    target = await harness.phone("2004", "answer", answer_after_ms=300, talk_ms=14_000)
    caller = await harness.dial("2003", "062345678", talk_ms=None, dtmf=CODE_FOR_2004)
    assert await caller.wait(timeout=40) == 0 and await target.wait() == 0
    assert caller.saw("BYE_RECEIVED") and target.saw("ANSWERED")
    rec = await harness.wait_record(t0, "062345678")
    [transfer] = rec["transfers"]
    assert (transfer["by"], transfer["to"], transfer["result"]) == ("2003", "2004", "completed")
    assert rec["number_class"] == "local" and rec["callee"]["number"] == "2004"
    await harness.wait_clean()
    assert carrier.dialed() == ["62345678"]


async def test_a_target_hanging_up_while_it_hears_who_is_coming_is_no_completed_transfer(
    harness: Harness, ari_watch: AriWatch
) -> None:
    """XFER-2: 2003 answers and hangs up 2 s later, during transfer_incoming. The transfer has
    failed (not completed): the caller hears target_busy and is back with 1003, who was never
    released, until the caller hangs up."""
    t0 = now()
    first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=CODE)
    target = await harness.phone("2003", "answer", answer_after_ms=300, talk_ms=2000)
    caller = await harness.outside_call("075512345678", "1003", talk_ms=TRANSFER_STARTS_MS + 10_000)
    assert await caller.wait(timeout=40) == 0 and await first.wait() == 0 and await target.wait() == 0
    assert caller.saw("ANSWERED") and first.saw("BYE_RECEIVED") and not target.saw("BYE_RECEIVED")
    rec = await harness.wait_record(t0, "1003")
    assert [(t["by"], t["to"], t["result"]) for t in rec["transfers"]] == [("1003", "2003", "target_hung_up")]
    assert rec["callee"]["number"] == "1003" and rec["hangup_by"] == "caller"
    assert ari_watch.prompts(rec["call_id"]) == ["greeting_admin", "transfer_hold", "target_busy"]
    assert "call.transferred" not in harness.callguard_log_events(rec["call_id"])
    await harness.wait_clean()


async def _target_takes_the_next_call(harness: Harness) -> None:
    """The target's phone is free again: a colleague's call to it is answered."""
    t0 = now()
    phone = await harness.phone("2003", "answer", answer_after_ms=100)
    caller = await harness.dial("2004", "2003", talk_ms=300)
    assert await caller.wait() == 0 and caller.saw("ANSWERED") and await phone.wait() == 0
    assert (await harness.wait_record(t0, "2003"))["disposition"] == "answered"
    await harness.wait_clean()


async def _hang_up_mid_transfer(
    harness: Harness, hang_up_after_ms: int, target_answers: bool
) -> dict[str, object]:
    t0 = now()
    first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=CODE)
    if target_answers:  # answers at once and stays until hung up on: the whisper plays to it
        target = await harness.phone("2003", "answer", answer_after_ms=300)
    else:
        target = await harness.phone("2003", "no_answer")
    caller = await harness.outside_call("075512345678", "1003", talk_ms=hang_up_after_ms)
    assert await caller.wait(timeout=40) == 0 and caller.saw("ANSWERED")
    left = time.monotonic()
    # The target is let go at once, not when its ring limit (4.5 s here) or anything else ends.
    assert await target.wait(timeout=2.5) == 0, "the transfer target outlived the caller"
    assert time.monotonic() - left < 2.5
    assert target.saw("BYE_RECEIVED" if target_answers else "CANCELLED")
    assert await first.wait(timeout=5) == 0 and first.saw("BYE_RECEIVED")
    await harness.wait_clean(timeout=5)
    rec = await harness.wait_record(t0, "1003")
    assert rec["hangup_by"] == "caller"
    await _target_takes_the_next_call(harness)
    return rec


async def test_caller_hanging_up_at_any_moment_of_a_transfer_leaves_nothing_behind(
    harness: Harness, lab: Lab
) -> None:
    """XFER-2: the caller hangs up during the hold announcement, while the target rings, and while
    the target hears who is coming. Each time every leg goes, Asterisk holds no channel or
    bridge, the record says the caller left mid-transfer, and the target takes the next call."""
    lab.reconfigure(outbound_test_config(), INBOUND_TEST_CONFIG + "\n" + answering_test_config(cadence_s=1.5))
    try:
        during_announcement = await _hang_up_mid_transfer(harness, TRANSFER_STARTS_MS + 800, False)
        during_ringing = await _hang_up_mid_transfer(harness, TRANSFER_STARTS_MS + 3500, False)
        during_whisper = await _hang_up_mid_transfer(harness, TRANSFER_STARTS_MS + 1500, True)
    finally:
        lab.reconfigure(outbound_test_config(), INBOUND_TEST_CONFIG + "\n" + answering_test_config())
    for rec in (during_announcement, during_ringing, during_whisper):
        transfers = rec["transfers"]
        assert isinstance(transfers, list)
        assert [(t["to"], t["result"]) for t in transfers] == [("2003", "caller_hung_up")]
