"""Hardening through the lab: keys from an outside party never start a transfer (XFER-2), a call
from no known line gets no class (OUT-2), records name the line, not the claimed caller ID (LOG-1),
and a refused call is on record even when callguard dies during its announcement."""

from __future__ import annotations

import json
import urllib.request
from base64 import b64encode
from typing import Any
from urllib.parse import urlencode

from callguard.lab import Lab
from tests.integration.harness import AriWatch, Harness, now


def _ari(lab: Lab, method: str, path: str, **params: str) -> Any:
    assert lab.state is not None
    url = f"{lab.state.ari_url}/ari{path}" + (f"?{urlencode(params)}" if params else "")
    req = urllib.request.Request(url, method=method)
    token = b64encode(f"{lab.state.ari_user}:{lab.state.ari_password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if body else None


async def test_the_far_end_of_an_outside_call_cannot_transfer_it(harness: Harness) -> None:
    """XFER-2 / SEC-3: the outside party types *2 1002 # into an employee's outside call. The keys
    reach callguard but start nothing: no second call leaves through the trunk, no phone rings,
    and the record says a transfer was refused."""
    t0 = now()
    carrier = await harness.carrier(answer_after_ms=300, dtmf=((600, "*21002#"),))
    caller = await harness.dial("2003", "062345678", talk_ms=4000)
    assert await caller.wait() == 0 and caller.saw("ANSWERED")
    rec = await harness.wait_record(t0, "062345678")
    assert rec["disposition"] == "answered" and rec["hangup_by"] == "caller"
    assert rec["talk_s"] >= 3.5  # the employee kept the call
    refused = [(t["by"], t["to"], t["result"]) for t in rec["transfers"]]
    assert refused == [("outside_party", "1002", "refused")]
    assert [leg["number"] for leg in rec["legs"]] == ["2003", "62345678"]
    assert "call.transfer_refused" in harness.callguard_log_events(rec["call_id"])
    await harness.wait_clean()
    assert carrier.dialed() == ["62345678"]  # the trunk was seized once, for the employee's call


async def test_a_call_from_no_known_line_gets_no_class_whatever_its_caller_id(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """OUT-2 fails closed: a Local channel (what a SIP REFER or a script makes) dials long distance
    into the desk phones' context with the director's caller ID. It has no endpoint, so no class:
    refused with the refusal prompt, never at the trunk, recorded as from nobody."""
    t0 = now()
    carrier = await harness.carrier()
    _ari(
        lab,
        "POST",
        "/channels",
        endpoint="Local/001012345678@callguard-phones",
        app="cg-test-witness",
        callerId="王丽 <1001>",
    )
    rec = await harness.wait_record(t0, "001012345678")
    assert (rec["disposition"], rec["direction"]) == ("unknown_line", "outbound")
    assert rec["caller"]["name"] is None and rec["caller"]["department"] is None
    assert ari_watch.prompts(rec["call_id"]) == ["refused_class"]
    [violation] = await harness.violations(rec["call_id"])
    assert (violation["rule"], violation["person"], violation["severity"]) == ("OUT-2", None, "alert")
    await harness.wait_clean()
    assert carrier.dialed() == []


async def test_an_outside_caller_whose_caller_id_is_an_extension_is_not_that_employee(
    harness: Harness,
) -> None:
    """LOG-1: the trunk sends caller ID 1001 (the director's extension); the record keeps that
    number but does not name her, and the ring plan treats the call as an outside one."""
    t0 = now()
    phone = await harness.phone("2003", "answer", answer_after_ms=100)
    caller = await harness.outside_call("1001", "2003", talk_ms=500)
    assert await caller.wait() == 0 and await phone.wait() == 0 and caller.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2003")
    assert rec["direction"] == "inbound"
    assert rec["caller"] == {"number": "1001", "name": None, "department": None}
    await harness.wait_clean()


async def test_a_refused_call_is_on_record_when_callguard_dies_during_its_announcement(
    harness: Harness, lab: Lab
) -> None:
    """LOG-1: a premium number (OUT-1) is refused with an announcement; callguard is killed while
    it plays and the caller hangs up before callguard is back. The provisional record written at
    the decision survives: the restarted callguard closes it as ended_unobserved, with its fine."""
    t0 = now()
    caller = await harness.dial("2003", "016812345678")
    provisional = await harness.wait_record(t0, "016812345678", disposition="in_progress")
    call_id = provisional["call_id"]
    lab.stop_controller(kill=True)
    try:
        _ari(lab, "DELETE", f"/channels/{call_id}")  # the caller hangs up meanwhile
        await caller.wait()
    finally:
        lab.start_controller()
    rec = await harness.wait_record(t0, "016812345678", disposition="ended_unobserved")
    assert rec["call_id"] == call_id and rec["decisions"][0]["reason"] == "premium_number"
    assert rec["caller"]["number"] == "2003" and rec["number_class"] == "premium"
    [violation] = await harness.violations(call_id)
    assert violation["rule"] == "OUT-1" and violation["fine_yuan"] == 150
    await harness.wait_clean()
