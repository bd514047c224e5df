"""Sessions on the fake ARI: no key from an outside party seizes the trunk (XFER-2), a finished
call leaves nothing mapped in the controller, and a refusal is recorded from its decision (LOG-1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callguard.config import AnsweringSettings, OfficeHours, OutboundSettings
from callguard.policy import AnsweringPolicy, OutboundPolicy
from tests.unit.test_session import DIRECTORY, World, ch

ALWAYS_OPEN = OfficeHours(days=(1, 2, 3, 4, 5, 6, 7), start="00:00", end="24:00")  # ANS-7 aside
ANSWERING = AnsweringPolicy(DIRECTORY, AnsweringSettings(office_hours=ALWAYS_OPEN))
OUTBOUND = OutboundPolicy(DIRECTORY, OutboundSettings())


async def _start(w: World, call_id: str, caller_line: str, dialed: str) -> None:
    await w.send(
        {
            "type": "StasisStart",
            "args": ["internal", dialed, "ok", caller_line],
            "channel": {"id": call_id, "caller": {"number": caller_line}},
        }
    )


def _now() -> str:
    # Asterisk's own timestamps: the ring limit (ANS-1) counts from them.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


async def _answer(w: World, leg: str) -> None:
    await w.send({"type": "StasisStart", "args": ["leg", leg.rsplit("-leg", 1)[0]], **ch(leg)})
    await w.send({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": leg}, "timestamp": _now()})
    await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": leg}, "timestamp": _now()})


async def _keys(w: World, channel_id: str, digits: str) -> None:
    for digit in digits:
        await w.send({"type": "ChannelDtmfReceived", "digit": digit, **ch(channel_id)})


def _creates(w: World) -> list[tuple[Any, ...]]:
    return [a for a in w.ari.actions if a[0] == "create"]


async def test_the_far_end_of_an_outside_call_cannot_start_a_transfer() -> None:
    """XFER-2 / SEC-3: the outside party types *2 1002 # on an employee's outside call. Before,
    callguard dialled a new leg through the trunk with no class check and nothing recorded."""
    w = World(outbound=OUTBOUND, answering=ANSWERING)
    await _start(w, "out-1", "2003", "062345678")
    [create] = _creates(w)
    assert create[2] == "PJSIP/62345678@pstn"
    await _answer(w, "out-1-leg1")
    assert "bridge_add" in w.names()
    await _keys(w, "out-1-leg1", "*21002#")  # the far end
    assert len(_creates(w)) == 1, "no new leg, least of all through the trunk"
    await _keys(w, "out-1", "*22004#")  # the employee who called hands the customer on
    creates = _creates(w)
    assert len(creates) == 2 and creates[1][2] == "PJSIP/2004"  # an extension, never the trunk
    assert creates[1][4]["CALLERID(num)"] == "62345678"  # 2004 sees who is coming
    await w.send({"type": "StasisEnd", **ch("out-1")})
    await w.send({"type": "ChannelDestroyed", **ch("out-1-leg1"), "cause": 16})
    await w.send({"type": "ChannelDestroyed", **ch("out-1-leg2"), "cause": 16})
    [rec] = w.finals
    assert [(t["by"], t["to"], t["result"]) for t in rec.transfers] == [
        ("outside_party", "1002", "refused"),
        ("2003", "2004", "callee_hung_up"),
    ]
    assert any(e == "call.transfer" and f["result"] == "refused" for e, f in w.events)


async def test_an_outside_caller_cannot_transfer_but_the_employee_who_answered_can() -> None:
    w = World(
        answering=AnsweringPolicy(DIRECTORY, AnsweringSettings(greeting="off", office_hours=ALWAYS_OPEN))
    )
    await w.send(
        {
            "type": "StasisStart",
            "args": ["inbound", "2003"],
            "channel": {"id": "in-1", "caller": {"number": "13800138000"}},
        }
    )
    await _answer(w, "in-1-leg1")
    await _keys(w, "in-1", "*22004#")  # the outside caller
    assert len(_creates(w)) == 1
    await _keys(w, "in-1-leg1", "*22004#")  # 2003, who answered
    creates = _creates(w)
    assert len(creates) == 2 and creates[1][2] == "PJSIP/2004"  # an extension, never the trunk


async def test_a_few_hundred_multi_hop_calls_leave_nothing_mapped() -> None:
    """Memory: every leg of every hop is forgotten when its call ends, not only the answered one."""
    w = World(answering=ANSWERING)
    for n in range(300):
        call = f"mh-{n}"
        await _start(w, call, "2003", "1001")  # the director: her assistant 1002 rings first (XFER-1)
        assert _creates(w)[-1][1:3] == (f"{call}-leg1", "PJSIP/1002")
        await w.send({"type": "StasisStart", "args": ["leg", call], **ch(f"{call}-leg1")})
        await w.send({"type": "ChannelDestroyed", **ch(f"{call}-leg1"), "cause": 17})  # busy: next hop
        assert _creates(w)[-1][1:3] == (f"{call}-leg2", "PJSIP/1001")
        await _answer(w, f"{call}-leg2")
        await w.send({"type": "StasisEnd", **ch(call)})
        await w.send({"type": "ChannelDestroyed", **ch(f"{call}-leg2"), "cause": 16})
    assert len(w.finals) == 300 and all(r.disposition == "answered" for r in w.finals)
    assert w.manager.active_calls == 0
    assert w.manager.mapped_channels == 0


async def test_a_refusal_is_recorded_from_its_decision_before_its_announcement() -> None:
    """LOG-1: the provisional record exists (with its violation) while the refusal prompt plays,
    so a crash then still leaves the call and its fine on record."""
    w = World(outbound=OUTBOUND)
    await _start(w, "prem-1", "2003", "016812345678")
    assert w.names()[:2] == ["progress", "play"]  # the announcement is still playing
    [provisional] = w.records
    assert provisional.disposition == "in_progress" and provisional.number_class == "premium"
    assert [v["rule"] for v in provisional.violations] == ["OUT-1"]
