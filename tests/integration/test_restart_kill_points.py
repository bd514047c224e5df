"""A call's facts live in Asterisk (issue 9): callguard is killed (SIGKILL) at each point of a
call, restarted, and the call goes on where it was. Each test places the same call twice, once
uninterrupted and once with the kill, and compares what the records and the phones say:
parties, phones rung in order, violations, who authorised it, the matter code, the prompts the
caller heard (an independent ARI witness) and how the call ended (the OUT-4 deadline).

The ring cadence is 1 s here (3 s a hop), long enough for a restart to happen inside a hop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from callguard.ari.client import AriClient, AriError
from callguard.calls import persist
from callguard.calls.effects import GlobalFacts
from callguard.lab import Lab
from callguard.lab.lab import LAB_PINS
from callguard.lab.phones import SippRun
from callguard.store import list_messages, make_engine
from tests.integration.conftest import (
    DURATION_LIMIT_S,
    EXTRA_TEST_CONFIG,
    INBOUND_TEST_CONFIG,
    answering_test_config,
    outbound_test_config,
)
from tests.integration.harness import AriWatch, Harness, callguard_log, now

pytestmark = pytest.mark.lab

CADENCE_S = 1.0
DIRECTOR_PIN = LAB_PINS["wang.li"]
# Kill this long after callguard logs this event with these fields.
KillPoint = tuple[str, dict[str, Any], float]


# A restart takes 2-6 s on a busy machine (measured): the OUT-4 limit and the wait for the
# first digit of a code are longer here than the restart, so that a deadline or a PIN typed
# after it is not lost while no callguard runs.
TALK_LIMIT_S = 12
DIGIT_TIMEOUT_S = 10


def _kill_point_outbound() -> str:
    config = outbound_test_config()
    slower = config.replace("digit_timeout_s = 3\n", f"digit_timeout_s = {DIGIT_TIMEOUT_S}\n").replace(
        f"limit_s = {DURATION_LIMIT_S}\n", f"limit_s = {TALK_LIMIT_S}\n"
    )
    assert slower.count(f"limit_s = {TALK_LIMIT_S}\n") == 2 and f"= {DIGIT_TIMEOUT_S}\n" in slower
    return slower


@pytest.fixture(scope="module", autouse=True)
def slow_rings(lab: Lab) -> Any:
    answering = answering_test_config(cadence_s=CADENCE_S)
    lab.reconfigure(_kill_point_outbound(), INBOUND_TEST_CONFIG + answering)
    yield
    lab.reconfigure(outbound_test_config(), EXTRA_TEST_CONFIG)


async def _wait_logged(lab: Lab, mark: int, event: str, fields: dict[str, Any], timeout: float = 30) -> str:
    """Wait until callguard logs `event` with `fields` (after line `mark`); its call id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in callguard_log(lab)[mark:]:
            if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()):
                return str(entry.get("call_id"))
        await asyncio.sleep(0.05)
    raise AssertionError(f"callguard never logged {event} {fields}")


async def _kill_and_restart(lab: Lab) -> None:
    """SIGKILL: nothing is saved on the way out; the next process knows only what Asterisk keeps."""
    lab.stop_controller(kill=True)
    await asyncio.to_thread(lab.start_controller)


async def _kill_at(lab: Lab, mark: int, kill_at: KillPoint | None) -> None:
    if kill_at is not None:
        event, fields, delay_s = kill_at
        await _wait_logged(lab, mark, event, fields)
        await asyncio.sleep(delay_s)
        await _kill_and_restart(lab)


def _facts(rec: dict[str, Any], violations: list[dict[str, Any]], prompts: list[str]) -> dict[str, Any]:
    """What must not change when callguard dies in the middle of a call."""
    callees = sorted(
        (leg for leg in rec["legs"] if leg["role"] == "callee"), key=lambda leg: leg["started_at"] or ""
    )
    return {
        "caller": rec["caller"]["number"],
        "callee": (rec["callee"] or {}).get("number"),
        "direction": rec["direction"],
        "number_class": rec["number_class"],
        "disposition": rec["disposition"],
        "hangup_by": rec["hangup_by"],
        "hops_rung": [leg["number"] for leg in callees],
        "answered_by": [leg["number"] for leg in callees if leg["answered_at"]],
        "violations": [
            (v["rule"], v["extension"], v["reason"]) for v in sorted(violations, key=lambda v: v["at"])
        ],
        "authorized_by": rec["authorized_by"],
        "matter": rec["matter"],
        "prompts": prompts,
        "prompts_recorded": rec.get("prompts"),  # the record's own list, where it keeps one
        "transfers": [(t["by"], t["to"], t["result"]) for t in rec["transfers"]],
    }


_SEEN = ("INVITE_RECEIVED", "PROGRESS", "ANSWERED", "CANCELLED", "BYE_RECEIVED")


async def _saw(runs: dict[str, SippRun], timeout: float = 5) -> dict[str, str]:
    """What each SIPp phone went through, once it ended (the caller has ended already, so the
    phones end within seconds; one that never does was left ringing or never rang)."""
    out = {}
    for name, run in runs.items():
        try:
            code = await run.wait(timeout=timeout)
        except TimeoutError:
            out[name] = "never ended: " + " ".join(e for e in _SEEN if run.saw(e))
            continue
        out[name] = f"exit {code}: " + " ".join(e for e in _SEEN if run.saw(e))
    return out


async def _record_facts(
    harness: Harness, witness: AriWatch, t0: datetime, dialed: str, timeout: float = 40
) -> tuple[dict[str, Any], dict[str, Any]]:
    rec = await harness.wait_record(t0, dialed, timeout=timeout)
    facts = _facts(rec, await harness.violations(rec["call_id"]), witness.prompts(rec["call_id"]))
    return rec, facts


Scenario = Callable[[KillPoint | None], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]


async def _same_call_twice(harness: Harness, scenario: Scenario, kill_at: KillPoint) -> dict[str, Any]:
    """The call uninterrupted, then killed at `kill_at`: the facts are equal; the killed call's
    record says it was re-adopted. Returns the facts."""
    _, plain = await scenario(None)
    await harness.wait_clean()
    rec, killed = await scenario(kill_at)
    try:
        assert rec["readopted"] is True, "callguard was not restarted during the call"
        assert killed == plain
    finally:
        await harness.wait_clean()
    return killed


async def test_killed_during_the_greeting(harness: Harness, lab: Lab, ari_watch: AriWatch) -> None:
    """ANS-4: killed while the outside caller hears the department's greeting. The greeting is
    heard once, then 1003 rings and answers."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        phone = await harness.phone("1003", "answer", answer_after_ms=300)
        caller = await harness.outside_call("01088881111", "1003", talk_ms=800)
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=40) | await _saw({"1003": phone})
        rec, facts = await _record_facts(harness, ari_watch, t0, "1003")
        return rec, facts | {"saw": saw}

    facts = await _same_call_twice(harness, call, ("call.prompt", {"prompt": "greeting_admin"}, 0.3))
    assert facts["prompts"] == ["greeting_admin"] and facts["hops_rung"] == ["1003"]
    assert facts["disposition"] == "answered" and facts["callee"] == "1003"
    assert facts["saw"]["1003"] == "exit 0: INVITE_RECEIVED ANSWERED BYE_RECEIVED"


async def test_killed_while_a_later_hop_rings(harness: Harness, lab: Lab, ari_watch: AriWatch) -> None:
    """ANS-1/ANS-3: killed while the second hop (the front desk 8000) rings. The restarted
    callguard still holds the ring plan: 8000's limit ends its hop, the operator 8001 rings
    next and answers; both missed limits are violations."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        phones = {
            "1003": await harness.phone("1003", "no_answer"),
            "8000": await harness.phone("8000", "no_answer"),
            "8001": await harness.phone("8001", "answer", answer_after_ms=1500),
        }
        caller = await harness.outside_call("01088882222", "1003", talk_ms=800)
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=60) | await _saw(phones)
        rec, facts = await _record_facts(harness, ari_watch, t0, "1003")
        return rec, facts | {"saw": saw}

    facts = await _same_call_twice(harness, call, ("call.dialing", {"ext": "8000"}, 0.5))
    assert facts["hops_rung"] == ["1003", "8000", "8001"] and facts["callee"] == "8001"
    assert [(rule, ext) for rule, ext, _ in facts["violations"]] == [("ANS-1", "1003"), ("ANS-1", "8000")]
    assert facts["saw"]["8000"] == "exit 0: INVITE_RECEIVED CANCELLED"
    assert facts["saw"]["8001"] == "exit 0: INVITE_RECEIVED ANSWERED BYE_RECEIVED"


async def test_killed_during_pin_entry(harness: Harness, lab: Lab, ari_watch: AriWatch) -> None:
    """OUT-3: killed while the employee is asked for the PIN; the PIN is typed after the
    restart (9 s after the answer; the first digit is waited for DIGIT_TIMEOUT_S). The call
    still goes out through the trunk, with the register entry: authorised by the director,
    matter 42, the same prompts (the PIN prompt is not asked twice)."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        carrier = await harness.carrier()  # answers every call that reaches the trunk
        caller = await harness.dial(
            "1003", "001012345678", talk_ms=1000, dtmf=((9000, f"{DIRECTOR_PIN}#"), (1500, "42#"))
        )
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=60)
        rec, facts = await _record_facts(harness, ari_watch, t0, "001012345678")
        await carrier.stop()  # it would take the next run's calls: a carrier never ends by itself
        return rec, facts | {"saw": saw, "trunk": carrier.dialed()}

    facts = await _same_call_twice(harness, call, ("call.prompt", {"prompt": "enter_pin"}, 0.3))
    assert (facts["authorized_by"], facts["matter"]) == ("wang.li", "42")
    assert facts["prompts"] == ["enter_pin", "enter_matter"] and facts["disposition"] == "answered"
    assert facts["trunk"] == ["01012345678"]


async def test_killed_during_talk_keeps_the_register_entry_and_the_out4_deadline(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """OUT-3 + OUT-4: killed while an authorised national call talks. The re-adopted call keeps
    who authorised it and its matter code, and is still ended at its hard cap, counted from the
    answer (not from the restart)."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        carrier = await harness.carrier(talk_ms=None)
        caller = await harness.dial(
            "1003", "001012345678", talk_ms=None, dtmf=((1000, f"{DIRECTOR_PIN}#"), (1500, "42#"))
        )
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=60)
        rec, facts = await _record_facts(harness, ari_watch, t0, "001012345678")
        # The OUT-4 deadline, counted from the answer: the cap ends the call there.
        facts["ended_at_cap"] = TALK_LIMIT_S - 0.3 <= (rec["talk_s"] or 0) < TALK_LIMIT_S + 1
        await carrier.stop()  # it would take the next run's calls: a carrier never ends by itself
        # The OUT-4 warning (3.1 s) starts 2 s before the cap here, which cuts it short.
        warnings = ari_watch.playbacks(rec["call_id"], kind="PlaybackStarted").count(
            "sound:callguard/duration_warning"
        )
        trunk = {"trunk": carrier.dialed(), "trunk_bye": carrier.saw("BYE_RECEIVED")}
        return rec, facts | {"saw": saw, "warnings": warnings} | trunk

    facts = await _same_call_twice(harness, call, ("call.answered", {}, 0.2))
    assert (facts["authorized_by"], facts["matter"]) == ("wang.li", "42")
    assert facts["hangup_by"] == "callguard" and [v[0] for v in facts["violations"]] == ["OUT-4"]
    assert facts["ended_at_cap"] and facts["trunk_bye"]
    assert facts["prompts"] == ["enter_pin", "enter_matter"] and facts["warnings"] == 1
    assert facts["saw"]["caller"] == "exit 0: ANSWERED BYE_RECEIVED"


async def test_killed_while_a_transfer_target_rings(harness: Harness, lab: Lab, ari_watch: AriWatch) -> None:
    """XFER-2: 1003 answers an outside call and hands it to 2003; callguard is killed while
    2003 rings. 2003 answers after the restart, hears who is coming, and talks with the caller;
    1003 is released; the transfer is recorded once, completed."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        first = await harness.phone("1003", "answer", answer_after_ms=100, dtmf=((500, "*22003#"),))
        # 2003 stays to hear the whole briefing: the prompt (3.4 s) and twelve digits (~10 s).
        target = await harness.phone("2003", "answer", answer_after_ms=2500, talk_ms=17_000)
        caller = await harness.outside_call("075512340000", "1003", talk_ms=None)
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=60) | await _saw({"1003": first, "2003": target})
        rec, facts = await _record_facts(harness, ari_watch, t0, "1003")
        whisper = [ari_watch.playbacks(leg["channel_id"]) for leg in rec["legs"] if leg["number"] == "2003"]
        return rec, facts | {"saw": saw, "whisper": whisper}

    facts = await _same_call_twice(harness, call, ("call.transfer", {"result": "ringing", "to": "2003"}, 0.2))
    assert facts["transfers"] == [("1003", "2003", "completed")] and facts["callee"] == "2003"
    assert facts["whisper"] == [["sound:callguard/transfer_incoming", "digits:075512340000"]]
    assert "transfer_hold" in facts["prompts"]
    assert facts["saw"]["1003"] == "exit 0: INVITE_RECEIVED ANSWERED BYE_RECEIVED"
    assert facts["saw"]["caller"] == "exit 0: PROGRESS ANSWERED BYE_RECEIVED"


async def test_killed_while_a_message_is_recorded(harness: Harness, lab: Lab, ari_watch: AriWatch) -> None:
    """XFER-3: nobody answers; callguard is killed while the caller leaves a message. The caller
    ends it with # after the restart; the message is stored for 1003 and the caller hears that
    it was saved, as without the kill."""

    async def call(kill_at: KillPoint | None) -> tuple[dict[str, Any], dict[str, Any]]:
        t0, mark = now(), len(callguard_log(lab))
        phones = {ext: await harness.phone(ext, "no_answer") for ext in ("1003", "8000", "8001")}
        # Answered for the message: the 8 s prompt and the tone, 6 s of speech, then #.
        caller = await harness.outside_call("13512340000", "1003", talk_ms=None, dtmf=((9000, "~~~~#"),))
        await _kill_at(lab, mark, kill_at)
        saw = await _saw({"caller": caller}, timeout=90) | await _saw(phones)
        rec, facts = await _record_facts(harness, ari_watch, t0, "1003", timeout=60)
        engine = make_engine(harness.state.database_url)
        try:
            messages = [m for m in await list_messages(engine, "1003") if m["call_id"] == rec["call_id"]]
        finally:
            await engine.dispose()
        facts["messages"] = [(m["for_person"], m["caller_number"], m["duration_s"] >= 1) for m in messages]
        return rec, facts | {"saw": saw}

    # The prompt lasts about 8 s; the recording has started when callguard dies.
    facts = await _same_call_twice(harness, call, ("call.prompt", {"prompt": "target_unavailable"}, 9.0))
    assert facts["disposition"] == "message"
    assert facts["messages"] == [("chen.jie", "13512340000", True)]
    assert facts["prompts"] == ["greeting_admin", "target_unavailable", "message_saved"]
    assert facts["saw"]["caller"] == "exit 0: PROGRESS ANSWERED BYE_RECEIVED"


def _facts_of_size(chars: int) -> dict[str, Any]:
    """Facts whose CG_CALL value is just under `chars` long (random text does not compress)."""
    rng, n = random.Random(7), chars
    while True:
        facts = {"v": persist.VERSION, "noise": base64.b64encode(rng.randbytes(n)).decode()}
        try:
            if len(persist.encode(facts)) > chars - 100:
                return facts
        except persist.FactsError:
            pass
        n -= 50


def _ari(lab: Lab) -> AriClient:
    """An ARI client of the lab's own, under an application nobody listens to."""
    assert lab.state is not None
    return AriClient(lab.state.ari_url, lab.state.ari_user, lab.state.ari_password, "cg-test-persist", 5.0)


async def test_the_largest_snapshot_round_trips_through_asterisk(lab: Lab) -> None:
    """CG_CALL's bound holds in the real Asterisk: a value of persist.MAX_VALUE_CHARS survives
    ARI both as a channel variable and as the global variable the engine keeps (CG_CALL_<channel>);
    a longer one (4,500) is refused by Asterisk itself; a value callguard did not write is
    refused on load, not a crash."""
    client = _ari(lab)
    events = await client.open_events()  # a channel of an application nobody listens to is gone at once
    channel = "cg-test-persist-1"
    try:
        params = {"endpoint": "Local/persist@default", "app": "cg-test-persist", "channelId": channel}
        await client.request("POST", "/channels/create", params=params)
        # Under load the channel's StasisStart comes a moment after the answer (409 before it).
        async with asyncio.timeout(10):
            async for message in events:
                if json.loads(message.data).get("type") == "StasisStart":
                    break
        facts = _facts_of_size(persist.MAX_VALUE_CHARS)
        for store in (client, GlobalFacts(client)):
            await persist.save(store, channel, facts)
            assert await persist.load(store, channel) == facts
        with pytest.raises(AriError, match="HTTP 400"):
            await client.set_channel_var(channel, "CG_TOO_LONG", "A" * 4500)
        await client.set_channel_var(channel, persist.VARIABLE, persist.PREFIX + "not-what-callguard-writes")
        assert await persist.load(client, channel) is None
        await GlobalFacts(client).forget(channel)
        assert await persist.load(GlobalFacts(client), channel) is None
    finally:
        await client.request("DELETE", f"/channels/{channel}")
        await events.close()
        await client.close()


async def test_a_damaged_snapshot_is_refused_and_the_call_still_ends_cleanly(
    harness: Harness, lab: Lab
) -> None:
    """CG_CALL of the right form but unusable contents (here: nothing but the version), found
    by a restarted callguard, is refused (call.facts_refused) and the call is re-adopted from
    the ids in Asterisk alone: it talks on and is recorded, and callguard does not crash."""
    t0, mark = now(), len(callguard_log(lab))
    phone = await harness.phone("2002", "answer", answer_after_ms=200)
    caller = await harness.dial("2001", "2002", talk_ms=4000)
    call_id = await _wait_logged(lab, mark, "call.answered", {})
    lab.stop_controller(kill=True)
    client = _ari(lab)
    try:
        await GlobalFacts(client).set_channel_var(
            call_id, persist.VARIABLE, persist.encode({"v": persist.VERSION})
        )
    finally:
        await client.close()
    await asyncio.to_thread(lab.start_controller)
    saw = await _saw({"caller": caller}, timeout=30) | await _saw({"2002": phone})
    assert saw == {
        "caller": "exit 0: ANSWERED",
        "2002": "exit 0: INVITE_RECEIVED ANSWERED BYE_RECEIVED",
    }
    rec = await harness.wait_record(t0, "2002")
    assert rec["readopted"] is True and rec["disposition"] == "answered" and rec["hangup_by"] == "caller"
    refused = [e for e in callguard_log(lab)[mark:] if e.get("event") == "call.facts_refused"]
    assert [e["channel"] for e in refused] == [call_id]
    assert not [e for e in callguard_log(lab)[mark:] if e.get("event") == "call.session_crashed"]
    await harness.wait_clean()


async def _facts_kept(lab: Lab, call_id: str) -> bool:
    """Whether Asterisk still holds the call's facts (CG_CALL_<channel>), asked over ARI."""
    client = _ari(lab)
    try:
        return await GlobalFacts(client).get_channel_var(call_id, persist.VARIABLE) is not None
    finally:
        await client.close()


async def _violations(harness: Harness, call_id: str) -> list[tuple[str, str]]:
    return [(v["rule"], v["extension"]) for v in await harness.violations(call_id)]


async def _until_async(check: Callable[[], Awaitable[object]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached within {timeout} s"
        await asyncio.sleep(0.1)


async def _until_facts(lab: Lab, call_id: str, kept: bool, timeout: float) -> None:
    async def settled() -> bool:
        return await _facts_kept(lab, call_id) == kept

    await _until_async(settled, timeout)


async def test_the_facts_of_a_call_that_ended_while_callguard_was_down_are_unset(
    harness: Harness, lab: Lab
) -> None:
    """LOG-1 and issue 12 (what of Asterisk's memory is callguard's): the caller hangs up
    while no callguard runs, during a second hop (a call with facts worth keeping). The next
    callguard closes the record as ended_unobserved, cancels the hop's ringing leg and unsets
    the call's facts, which nobody else would: Asterisk keeps a global variable until it
    restarts."""
    t0, mark = now(), len(callguard_log(lab))
    phones = {ext: await harness.phone(ext, "no_answer") for ext in ("1003", "8000")}
    caller = await harness.outside_call("01088882222", "1003", talk_ms=800)
    call_id = await _wait_logged(lab, mark, "call.dialing", {"ext": "8000"})
    await _until_facts(lab, call_id, kept=True, timeout=5)  # a second hop is worth keeping
    # The record as it stands reaches the store while the second hop rings, missed limit and all
    # (the writer gathers records for 100 ms: a SIGKILL within that window loses the latest).
    await _until_async(lambda: _violations(harness, call_id), timeout=5)
    lab.stop_controller(kill=True)
    client = _ari(lab)
    try:
        await client.request("DELETE", f"/channels/{call_id}")  # the caller hangs up meanwhile
    finally:
        await client.close()
    assert await caller.wait() == 0
    assert await _facts_kept(lab, call_id)  # nobody has unset them yet
    await asyncio.to_thread(lab.start_controller)
    rec = await harness.wait_record(t0, "1003", disposition="ended_unobserved")
    assert rec["call_id"] == call_id and await _violations(harness, call_id) == [("ANS-1", "1003")]
    assert [(leg["role"], leg["number"]) for leg in rec["legs"]] == [
        ("caller", "01088882222"),
        ("callee", "1003"),
        ("callee", "8000"),
    ]
    assert await _saw(phones, timeout=15) == {
        "1003": "exit 0: INVITE_RECEIVED CANCELLED",
        "8000": "exit 0: INVITE_RECEIVED CANCELLED",
    }
    await _until_facts(lab, call_id, kept=False, timeout=10)
    await harness.wait_clean()
