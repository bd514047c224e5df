"""The call's facts as kept in Asterisk (CG_CALL): a versioned, compact, bounded codec that
refuses what callguard did not write, and save/load over the ARI channel variables."""

from __future__ import annotations

import base64
import json
import random
import zlib
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.ari.client import AriError, AriGone
from callguard.calls import persist
from callguard.calls.call import Call, Leg, LegState, Phase, leg_channel_id, new_call
from callguard.calls.persist import MAX_VALUE_CHARS, PREFIX, VARIABLE, FactsError, decode, encode
from callguard.policy import CallRequest, Hop, Party
from callguard.policy.violations import ring_limit
from callguard.records import CallRecord, LegRecord, to_json

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _busy_call() -> dict[str, Any]:
    """A snapshot as large as calls get: an outside call through a three-hop plan with a
    violation per hop, a greeting, a transfer and a message (names in Chinese)."""
    hops = [Hop((ext,), 3, 15.0, True, reason, "minor", 4.0, True, "ANS-3") for ext, reason in (
        ("1003", "person"), ("8000", "hunt_group"), ("8001", "operator"))]  # fmt: skip
    record = CallRecord(
        call_id="callguard-lab-1795419845.17",
        node="labtest",
        direction="inbound",
        dialed="1003",
        caller=Party("13512345678"),
        callee=Party("1003", "陈杰", "admin", "chen.jie"),
        started_at=T0,
        authorized_by="wang.li",
        matter="4242",
        decisions=[
            {"action": "route", "target": "1003", "rule": "ANS-3", "hops": [h.as_dict() for h in hops]}
        ],
    )
    record.legs.append(LegRecord("caller", record.call_id, "13512345678", started_at=T0))
    for n, hop in enumerate(hops, 1):
        record.legs.append(
            LegRecord(
                "callee", f"{record.call_id}-leg{n}", hop.targets[0], started_at=T0 + timedelta(seconds=3 * n)
            )
        )
        violation = ring_limit(hop, hop.targets[0], "chen.jie").as_dict()
        record.violations.append({**violation, "at": (T0 + timedelta(seconds=3 * n + 15)).isoformat()})
    record.transfers.append({"by": "1003", "to": "2003", "at": T0.isoformat(), "result": "no_answer"})
    return {
        "v": persist.VERSION,
        "phase": "authorizing",
        "record": to_json(record),
        "hops": [{**asdict(h), "targets": list(h.targets)} for h in hops],
        "hop_index": 2,
        "leg_seq": 4,
        "legs": [
            {
                "id": f"{record.call_id}-leg{n}",
                "target": h.targets[0],
                "hop_index": n - 1,
                "state": "gone",
                "late": True,
                "idle_before": False,
            }
            for n, h in enumerate(hops, 1)
        ],  # fmt: skip
        "prompts": ["greeting_admin", "target_unavailable"],
        "recording": f"callguard-message-{record.call_id}",
        "out4_deadline": (T0 + timedelta(seconds=600)).isoformat(),
        "message_for": "1003",
    }


def test_round_trip_keeps_every_fact() -> None:
    facts = _busy_call()
    value = encode(facts)
    assert value.startswith(PREFIX) and decode(value) == facts


def test_a_busy_call_stays_well_under_the_bound() -> None:
    value = encode(_busy_call())
    assert len(value) < MAX_VALUE_CHARS / 2, len(value)
    # Only characters that need no quoting in ARI's query string or the dialplan.
    assert set(value[len(PREFIX) :]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
    )


def test_facts_too_large_are_refused_when_written() -> None:
    # Random-looking text does not compress: 10 KB of it cannot fit.
    noise = base64.b64encode(random.Random(9).randbytes(8000)).decode()
    with pytest.raises(FactsError, match=rf"^{VARIABLE}: \d+ characters, more than {MAX_VALUE_CHARS}$"):
        encode({"v": 1, "noise": noise})


def test_facts_that_are_not_json_are_refused_when_written() -> None:
    with pytest.raises(FactsError, match=f"^{VARIABLE}: facts are not JSON"):
        encode({"v": 1, "when": datetime.now(UTC)})
    with pytest.raises(FactsError, match=f"^{VARIABLE}: facts are not JSON"):
        encode({"v": 1, "x": float("nan")})


def _pack(raw: bytes) -> str:
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw)).decode()


VALUE = encode({"v": 1, "phase": "ringing"})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "unknown format"),
        ("hello", "unknown format"),
        ('{"v": 1}', "unknown format"),  # plain JSON: not what callguard writes
        ("cg2:" + VALUE[len(PREFIX) :], r"unknown format \(cg2\)"),  # a newer callguard's
        (PREFIX, "cut short"),  # nothing after the version
        (VALUE[: len(VALUE) // 2], "unreadable|cut short"),  # truncated
        (VALUE[:-6] + "AAAA==", "unreadable|cut short"),
        (PREFIX + "!!!!", "outside URL-safe base64"),
        (PREFIX + "ab+/", "outside URL-safe base64"),  # standard base64 is not what is written
        (PREFIX + "x" * (MAX_VALUE_CHARS + 1), "characters, more than"),
        (PREFIX + base64.urlsafe_b64encode(b"not zlib at all").decode(), "unreadable"),
        (_pack(b"\xff\xfe not utf-8"), "unreadable"),
        (_pack(b"{not json"), "unreadable"),
        (_pack(b"[1, 2, 3]"), "not an object but list"),
        (_pack(b'"text"'), "not an object but str"),
        (_pack(b'{"phase": "ringing"}'), "snapshot version None"),
        (_pack(b'{"v": 2, "phase": "ringing"}'), "snapshot version 2"),
        (_pack(b'{"v": "1"}'), "snapshot version '1'"),
        # A zip bomb: 2 KB that inflate to 2 MB.
        (_pack(b" " * 2_000_000), "cut short or larger than"),
    ],
)
def test_a_value_callguard_did_not_write_is_refused_cleanly(value: str, why: str) -> None:
    with pytest.raises(FactsError, match=why) as refused:
        decode(value)
    message = str(refused.value)
    assert message.startswith(f"{VARIABLE}: ") and "\n" not in message


class FakeChannels:
    """Channel variables as Asterisk keeps them; `fail` makes every request fail that way."""

    def __init__(self, fail: AriError | None = None) -> None:
        self.vars: dict[tuple[str, str], str] = {}
        self.fail = fail

    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.vars[(channel_id, name)] = value

    async def get_channel_var(self, channel_id: str, name: str) -> str | None:
        if self.fail is not None:
            raise self.fail
        return self.vars.get((channel_id, name))


async def test_save_then_load_on_the_callers_channel() -> None:
    channels, facts = FakeChannels(), _busy_call()
    await persist.save(channels, "c1", facts)
    assert list(channels.vars) == [("c1", VARIABLE)]
    assert await persist.load(channels, "c1") == facts
    assert await persist.load(channels, "c2") is None  # never saved: re-adopted from ids alone


async def test_load_refuses_a_foreign_value_and_a_gone_channel_without_raising() -> None:
    channels = FakeChannels()
    channels.vars[("c1", VARIABLE)] = json.dumps({"v": 1})
    assert await persist.load(channels, "c1") is None
    assert await persist.load(FakeChannels(fail=AriGone("404 channel not found")), "c1") is None
    assert await persist.load(FakeChannels(fail=AriError("connection refused")), "c1") is None


async def test_save_raises_so_that_the_session_logs_it() -> None:
    with pytest.raises(AriGone):
        await persist.save(FakeChannels(fail=AriGone("404")), "c1", {"v": 1})
    with pytest.raises(FactsError):
        await persist.save(FakeChannels(), "c1", {"v": 1, "t": datetime.now(UTC)})


def _ringing_call() -> Call:
    """An outside call for 1003 at its third hop, the first two missed (ANS-1), a greeting heard
    and a message offer under way: what the engine snapshots."""
    hops = tuple(
        Hop((ext,), 3, 3.0, True, reason, "minor", 1.5, True, "ANS-3")
        for ext, reason in (("1003", "person"), ("8000", "hunt_group"), ("8001", "operator"))
    )
    request = CallRequest("13512345678", "1003", direction="inbound", at=T0)
    record = CallRecord(
        call_id="callguard-lab-1795419845.17",
        node="labtest",
        direction="inbound",
        dialed="1003",
        caller=Party("13512345678"),
        callee=Party("1003", "陈杰", "admin", "chen.jie"),
        started_at=T0,
    )
    call = new_call(record.call_id, request, record, T0)
    call.hops, call.hop_index, call.phase, call.message_for = hops, 2, Phase.ringing, "1003"
    for n, hop in enumerate(hops, 1):
        leg_id = leg_channel_id(record.call_id, n)
        leg_record = LegRecord("callee", leg_id, hop.targets[0], started_at=T0 + timedelta(seconds=3 * n))
        record.legs.append(leg_record)
        leg = Leg(
            leg_id, hop.targets[0], leg_record, n - 1, hop, LegState.gone if n < 3 else LegState.ringing
        )
        call.legs[leg_id], call.leg_seq = leg, n
        if n < 3:
            violation = ring_limit(hop, hop.targets[0], "chen.jie").as_dict()
            record.violations.append({**violation, "at": (T0 + timedelta(seconds=3 * n)).isoformat()})
    call.step = {"at": "greeting", "playback": record.call_id + "-play1"}
    return call


def test_the_engines_snapshot_round_trips_through_the_codec() -> None:
    call = _ringing_call()
    facts = call.snapshot()
    value = encode(facts)
    assert len(value) < MAX_VALUE_CHARS / 2, len(value)
    restored = Call.restore(call.request, decode(value))
    assert restored.snapshot() == facts
    assert [leg.hop.offline_skip_s for leg in restored.legs.values()] == [1.5, 1.5, 1.5]
    assert [v["rule"] for v in restored.record.violations] == ["ANS-1", "ANS-1"]


def _restorable(facts: dict[str, Any]) -> object:
    """What the engine would do with the facts: restore the call from them."""
    return Call.restore(CallRequest("13512345678", "1003", direction="inbound"), facts)


def _without(facts: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k != key}


GOOD = _ringing_call().snapshot()


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        ({"v": 1}, "KeyError"),  # the right version, nothing in it
        (_without(GOOD, "record"), "KeyError: 'record'"),
        (_without(GOOD, "hop_index"), "KeyError: 'hop_index'"),
        ({**GOOD, "phase": "dancing"}, "ValueError"),  # not a Phase
        ({**GOOD, "hop_index": "two"}, "ValueError"),
        ({**GOOD, "legs": ["not a leg"]}, "TypeError"),
        ({**GOOD, "legs": [{**GOOD["legs"][0], "id": "someone-elses-leg"}]}, "KeyError"),
        ({**GOOD, "record": {"call_id": "x"}}, "Error"),
        ({**GOOD, "hops": [{"targets": ["1003"], "colour": "red"}]}, "TypeError"),
    ],
)
async def test_a_well_formed_value_the_engine_cannot_use_is_refused_on_load(
    facts: dict[str, Any], why: str
) -> None:
    channels = FakeChannels()
    channels.vars[("c1", VARIABLE)] = encode(facts)
    assert await persist.load(channels, "c1") == facts  # the codec alone cannot tell
    assert await persist.load(channels, "c1", accept=_restorable) is None
    with pytest.raises(FactsError, match=f"^{VARIABLE}: snapshot unusable: .*{why}"):
        persist.vet(facts, _restorable)


async def test_a_usable_snapshot_passes_the_engines_check() -> None:
    channels = FakeChannels()
    await persist.save(channels, "c1", GOOD)
    assert await persist.load(channels, "c1", accept=_restorable) == GOOD
