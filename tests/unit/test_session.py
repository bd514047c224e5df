"""A call session's state machine against a fake ARI (fast; the lab tests prove it on Asterisk)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callguard.ari import AriGone
from callguard.ari.client import BRIDGE_TYPE, AriActions
from callguard.calls import CallManager
from callguard.calls import session as session_module
from callguard.calls.dial_bridges import dial_bridge_id, is_dial_bridge
from callguard.calls.events import Resync
from callguard.config import AnsweringSettings, CallSettings, OutboundSettings, load_config
from callguard.policy import AnsweringPolicy, Directory, OutboundPolicy, PinBook, hash_pin
from callguard.records import CallRecord

PROJECT = Path(__file__).resolve().parents[2]
DIRECTORY = Directory(
    load_config(
        PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
    ).directory
)
CALL = "pbx-1.1"
LEG = f"{CALL}-leg1"


class FakeAri(AriActions):
    """The real client's interface (mypy holds both to it), recording each action."""

    def __init__(self) -> None:
        self.actions: list[tuple[Any, ...]] = []
        self.gone: set[str] = set()
        self.explode_on: str | None = None  # an action that fails in a way nobody planned for
        self.variables: dict[tuple[str, str], str] = {}

    def _do(self, *action: Any) -> None:
        self.actions.append(action)
        if action[0] == self.explode_on:
            raise RuntimeError(f"unexpected failure in {action[0]}")
        if len(action) > 1 and action[1] in self.gone:
            raise AriGone("gone", 404)

    async def create_channel(
        self, endpoint: str, channel_id: str, app_args: str, originator: str, variables: Mapping[str, str]
    ) -> dict[str, Any]:
        self._do("create", channel_id, endpoint, app_args, variables)
        return {"id": channel_id}

    async def dial(self, channel_id: str, caller: str, timeout_s: int) -> None:
        self._do("dial", channel_id, timeout_s)

    async def ring(self, channel_id: str) -> None:
        self._do("ring", channel_id)

    async def answer(self, channel_id: str) -> None:
        self._do("answer", channel_id)

    async def progress(self, channel_id: str) -> None:
        self._do("progress", channel_id)

    async def play(self, channel_id: str, media: str, playback_id: str, lang: str) -> None:
        self._do("play", channel_id, media, playback_id, lang)

    async def stop_playback(self, playback_id: str) -> None:
        self._do("stop_playback", playback_id)

    async def get_playback(self, playback_id: str) -> dict[str, Any]:
        self._do("get_playback", playback_id)
        return {"id": playback_id}

    async def hangup(self, channel_id: str, cause: int | None = None) -> None:
        self._do("hangup", channel_id, cause)

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        self._do("get", channel_id)
        return {"id": channel_id}

    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None:
        self._do("setvar", channel_id, name)
        self.variables[(channel_id, name)] = value

    async def get_channel_var(self, channel_id: str, name: str) -> str | None:
        self._do("getvar", channel_id, name)
        return self.variables.get((channel_id, name))

    async def set_global_var(self, name: str, value: str | None) -> None:
        self._do("setglobal", name)
        if value is None:
            self.variables.pop(("", name), None)
        else:
            self.variables[("", name)] = value

    async def get_global_var(self, name: str) -> str | None:
        self._do("getglobal", name)
        return self.variables.get(("", name))

    async def record(self, channel_id: str, name: str, max_s: int) -> None:
        self._do("record", channel_id, name, max_s)

    async def create_bridge(self, bridge_id: str, kind: str = BRIDGE_TYPE) -> None:
        self._do("bridge", bridge_id)

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        # A ringing leg's dial bridge is not the call's bridge: nobody talks there.
        name = "dial_bridge_add" if is_dial_bridge(bridge_id) else "bridge_add"
        self._do(name, bridge_id, tuple(channel_ids))

    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        self._do("bridge_remove", bridge_id, tuple(channel_ids))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self._do("bridge_destroy", bridge_id)

    async def record_bridge(self, bridge_id: str, name: str, fmt: str, max_s: int) -> None:
        self._do("record_bridge", bridge_id, name)


class World:
    def __init__(
        self,
        settings: CallSettings | None = None,
        outbound: OutboundPolicy | None = None,
        answering: AnsweringPolicy | None = None,
    ) -> None:
        self.ari = FakeAri()
        self.records: list[CallRecord] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.manager = CallManager(
            DIRECTORY,
            settings or CallSettings(no_answer_timeout_s=20),
            "n1",
            lambda: self.ari,
            self._emit,
            self.records.append,
            outbound=outbound,
            answering=answering,
        )

    def _emit(self, event: str, /, **fields: Any) -> None:
        self.events.append((event, fields))

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("timestamp", "2026-11-22T10:00:00.000+0000")
        self.manager.on_event(event)
        for _ in range(20):
            await asyncio.sleep(0)

    async def start_call(self, caller: str = "1001", dialed: str = "1002", *extra: str) -> None:
        await self.send(
            {
                "type": "StasisStart",
                "args": ["internal", dialed, *extra],
                "channel": {
                    "id": CALL,
                    "caller": {"number": caller},
                    "creationtime": "2026-11-22T10:00:00.000+0000",
                },
            }
        )

    @property
    def finals(self) -> list[CallRecord]:
        """Final records; a routed call also submits a provisional one when it starts ringing out."""
        return [r for r in self.records if r.disposition != "in_progress"]

    def names(self) -> list[str]:
        """The call-control actions (the facts kept in Asterisk aside)."""
        return [a[0] for a in self.ari.actions if a[0] not in ("setglobal", "getglobal")]


def ch(channel_id: str, **kw: Any) -> dict[str, Any]:
    return {"channel": {"id": channel_id}, **kw}


async def test_answered_call_runs_through_every_state() -> None:
    w = World()
    await w.start_call()
    assert w.names() == ["create"]
    # LOG-1: provisional from the first decision; routed at once, its snapshot as the ring plan
    # starts is the same step's and supersedes it (one write, not two).
    assert [r.disposition for r in w.records] == ["in_progress"]
    provisional = w.records[-1]
    assert provisional.callee is not None and provisional.callee.number == "1002"
    assert w.ari.actions[0][2] == "PJSIP/1002"
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
    # It rings from a dial bridge of callguard's own, not Asterisk's one shared bridge (issue 12).
    joined = ("dial_bridge_add", dial_bridge_id("n1", LEG), (LEG,))
    assert w.ari.actions.index(joined) < w.ari.actions.index(("dial", LEG, 20))
    await w.send(
        {
            "type": "Dial",
            "dialstatus": "RINGING",
            "peer": {"id": LEG},
            "timestamp": "2026-11-22T10:00:01.000+0000",
        }
    )
    assert ("ring", CALL) in w.ari.actions
    await w.send(
        {
            "type": "Dial",
            "dialstatus": "ANSWER",
            "peer": {"id": LEG},
            "timestamp": "2026-11-22T10:00:03.000+0000",
        }
    )
    assert ("answer", CALL) in w.ari.actions
    # Answered, the leg goes straight from its dial bridge to the call's: Asterisk's addChannel
    # takes it out of the one it is in (issue 12: one request less a call).
    assert ("bridge_add", f"cg-{CALL}", (CALL, LEG)) in w.ari.actions
    assert "bridge_remove" not in w.names()
    await w.send({"type": "StasisEnd", **ch(CALL), "timestamp": "2026-11-22T10:00:13.000+0000"})
    assert ("hangup", LEG, 16) in w.ari.actions
    assert w.finals == []  # the leg is still alive
    await w.send(
        {"type": "ChannelDestroyed", **ch(LEG), "cause": 16, "timestamp": "2026-11-22T10:00:13.100+0000"}
    )
    [rec] = w.finals
    assert (rec.disposition, rec.hangup_by, rec.hangup_cause, rec.talk_s) == ("answered", "caller", 16, 10.1)
    assert ("bridge_destroy", f"cg-{CALL}") in w.ari.actions
    assert [e for e, _ in w.events] == [
        "call.started",
        "call.decision",
        "call.dialing",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]
    assert w.manager.active_calls == 0


async def test_an_ended_call_is_freed_at_once_without_the_garbage_collector() -> None:
    """Issue 12: a session in a reference cycle lived on until a full collection, which walks
    every object the process holds; at 100 calls/s those pauses were the PDD's p99."""
    gc.collect()
    gc.disable()  # only reference counting frees anything from here on
    try:
        w = World()
        await w.start_call()
        session = weakref.ref(w.manager._sessions[CALL])
        await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
        await w.send({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": LEG}})
        await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEG}})
        await w.send({"type": "StasisEnd", **ch(CALL)})
        await w.send({"type": "ChannelDestroyed", **ch(LEG), "cause": 16})
        assert [r.disposition for r in w.finals] == ["answered"] and w.manager.active_calls == 0
        assert session() is None, [type(r).__name__ for r in gc.get_referrers(session())]
    finally:
        gc.enable()


async def test_busy_leg_propagates_its_cause_to_the_caller() -> None:
    w = World()
    await w.start_call()
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
    await w.send({"type": "ChannelHangupRequest", **ch(LEG), "cause": 17})
    await w.send({"type": "StasisEnd", **ch(LEG)})  # not the end of a leg: ChannelDestroyed is
    assert ("hangup", CALL, 17) not in w.ari.actions
    await w.send({"type": "ChannelDestroyed", **ch(LEG), "cause": 17})
    assert ("hangup", CALL, 17) in w.ari.actions
    await w.send({"type": "StasisEnd", **ch(CALL)})
    [rec] = w.finals
    assert (rec.disposition, rec.hangup_cause, rec.answered_at) == ("busy", 17, None)
    assert "bridge" not in w.names()


async def test_caller_abandons_before_the_leg_is_dialled() -> None:
    w = World()
    await w.start_call()
    await w.send({"type": "StasisEnd", **ch(CALL)})
    assert ("hangup", LEG, None) in w.ari.actions
    await w.send({"type": "ChannelDestroyed", **ch(LEG), "cause": 16})
    [rec] = w.finals
    assert rec.disposition == "abandoned" and rec.hangup_by == "caller"
    assert "dial" not in w.names()


async def test_refused_call_hangs_up_with_the_decision_cause() -> None:
    w = World()
    await w.start_call(dialed="9999")
    assert w.ari.actions == [("hangup", CALL, 1)]
    await w.send({"type": "StasisEnd", **ch(CALL)})
    [rec] = w.finals
    assert rec.disposition == "unknown_extension" and rec.decisions[0]["action"] == "refuse"


async def test_malformed_flag_from_the_dialplan_refuses() -> None:
    w = World()
    await w.start_call("1001", "1002", "malformed")
    assert w.ari.actions == [("hangup", CALL, 28)]


async def test_create_failure_fails_the_call_cleanly() -> None:
    w = World()
    w.ari.gone.add(LEG)
    await w.start_call()
    assert ("hangup", CALL, 34) in w.ari.actions


async def test_events_for_unknown_channels_are_ignored() -> None:
    w = World()
    await w.send({"type": "ChannelDestroyed", **ch("someone-else"), "cause": 16})
    await w.send({"type": "StasisStart", "args": ["leg", "nobody"], **ch("x-leg1")})
    assert w.ari.actions == [] and w.records == []


async def test_a_missed_leg_stasis_start_is_recovered_by_resync() -> None:
    w = World()
    await w.start_call()
    w.manager._sessions[CALL].enqueue(Resync())  # what adopt() does after a reconnect
    for _ in range(20):
        await asyncio.sleep(0)
    assert ("get", LEG) in w.ari.actions and ("dial", LEG, 20) in w.ari.actions


async def test_a_call_with_no_event_for_a_while_asks_asterisk_how_it_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missed event must not keep a session open forever: after RESYNC_AFTER_S without one,
    the session resyncs by itself (one idle watch per session, not a timer per event)."""
    monkeypatch.setattr(session_module, "RESYNC_AFTER_S", 0.05)
    w = World()
    await w.start_call()
    assert ("get", LEG) not in w.ari.actions
    await asyncio.sleep(0.2)
    assert ("get", LEG) in w.ari.actions and ("dial", LEG, 20) in w.ari.actions


async def test_calls_beyond_the_setup_limit_are_refused_with_congestion() -> None:
    w = World(CallSettings(no_answer_timeout_s=20, max_calls_in_setup=2))
    for n in range(3):
        await w.send(
            {
                "type": "StasisStart",
                "args": ["internal", "1002"],
                "channel": {"id": f"c{n}", "caller": {"number": "1001"}},
            }
        )
    # Two calls wait for their legs (still in set-up); the third is refused at once.
    assert [a[1] for a in w.ari.actions if a[0] == "create"] == ["c0-leg1", "c1-leg1"]
    assert ("hangup", "c2", 34) in w.ari.actions


async def test_a_crashing_session_ends_the_call_and_still_records_it() -> None:
    w = World()
    await w.start_call()
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
    w.ari.explode_on = "answer"
    await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEG}})
    [rec] = w.finals
    assert rec.disposition == "error" and rec.decisions[-1]["action"] == "error"
    assert ("hangup", LEG, 16) in w.ari.actions
    assert w.manager.active_calls == 0


async def test_odd_event_fields_are_data_not_crashes() -> None:
    w = World()
    await w.start_call()
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
    await w.send({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": LEG}, "timestamp": 12})
    await w.send({"type": "Dial", "dialstatus": "no-such-status", "peer": {"id": LEG}})
    assert ("ring", CALL) in w.ari.actions and w.manager.active_calls == 1


PINS = PinBook({"wang.li": hash_pin("246813")}, min_digits=6)
OUTBOUND = OutboundPolicy(DIRECTORY, OutboundSettings(digit_timeout_s=0.5), PINS)


async def _until(condition: Any, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _played(w: World) -> list[str]:
    return [a[2].removeprefix("sound:callguard/") for a in w.ari.actions if a[0] == "play"]


async def _finish_playback(w: World) -> None:
    playback_id = [a for a in w.ari.actions if a[0] == "play"][-1][3]
    await w.send(
        {"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": f"channel:{CALL}"}}
    )


async def test_pin_and_matter_by_dtmf_then_the_call_goes_out_through_the_trunk() -> None:
    w = World(outbound=OUTBOUND)
    await w.start_call("1003", "001012345678", "ok", "1003")
    assert w.names()[:2] == ["answer", "play"] and _played(w) == ["enter_pin"]
    for digit in "246813#":
        await w.send({"type": "ChannelDtmfReceived", "digit": digit, **ch(CALL)})
    assert ("stop_playback", f"{CALL}-play1") in w.ari.actions  # the first digit stops the prompt
    await _finish_playback(w)
    await _until(lambda: _played(w) == ["enter_pin", "enter_matter"], "matter prompt")
    await _finish_playback(w)
    for digit in "42#":
        await w.send({"type": "ChannelDtmfReceived", "digit": digit, **ch(CALL)})
    await _until(lambda: "create" in w.names(), "leg created")
    create = next(a for a in w.ari.actions if a[0] == "create")
    assert create[2] == "PJSIP/01012345678@pstn"
    # At the decision, at each step of the dialogue, and once authorised (OUT-3 register).
    first, *_, provisional = w.records
    assert all(r.disposition == "in_progress" for r in w.records)
    assert (first.authorized_by, first.number_class, first.disposition) == (None, "national", "in_progress")
    assert (provisional.authorized_by, provisional.matter, provisional.number_class) == (
        "wang.li",
        "42",
        "national",
    )
    assert not any("246813" in str(f) for _, f in w.events)  # the code is never emitted


async def test_caller_leaving_during_pin_entry_is_abandoned_and_frees_the_toll_counter() -> None:
    w = World(outbound=OUTBOUND)
    await w.start_call("1003", "001012345678", "ok", "1003")
    await w.send({"type": "StasisEnd", **ch(CALL)})
    await _until(lambda: w.finals, "final record")
    [rec] = w.finals
    assert rec.disposition == "abandoned" and rec.hangup_by == "caller" and rec.number_class == "national"
    guard = w.manager._ctx.guard
    assert guard is not None and guard._active == {}


async def test_three_wrong_pins_refuse_with_prompt_and_violation() -> None:
    w = World(outbound=OUTBOUND)
    await w.start_call("1003", "001012345678", "ok", "1003")
    for attempt in range(1, 4):
        await _until(lambda n=attempt: _played(w).count("enter_pin") == n, "enter_pin")
        for digit in "1111#":
            await w.send({"type": "ChannelDtmfReceived", "digit": digit, **ch(CALL)})
        await _finish_playback(w)  # enter_pin, stopped by the first digit
        await _until(lambda n=attempt: _played(w).count("pin_wrong") == n, "pin_wrong")
        await _finish_playback(w)
    await _until(lambda: _played(w)[-1] == "refused_class", "refusal prompt")
    await _finish_playback(w)
    await _until(lambda: ("hangup", CALL, 21) in w.ari.actions, "hangup 21")
    await w.send({"type": "StasisEnd", **ch(CALL)})
    [rec] = w.finals
    assert rec.disposition == "pin_refused" and [v["rule"] for v in rec.violations] == ["OUT-2"]
    assert "create" not in w.names()


async def _type_wrong_pin(w: World, attempt: int, code: str = "111111#") -> None:
    await _until(lambda n=attempt: _played(w).count("enter_pin") == n, "enter_pin")
    for digit in code:
        await w.send({"type": "ChannelDtmfReceived", "digit": digit, **ch(CALL)})
    await _finish_playback(w)  # enter_pin, stopped by the first digit


async def _end_refused_call(w: World) -> CallRecord:
    await _until(lambda: bool(_played(w)) and _played(w)[-1] == "refused_class", "refusal prompt")
    await _finish_playback(w)
    await _until(lambda: ("hangup", CALL, 21) in w.ari.actions, "hangup 21")
    await w.send({"type": "StasisEnd", **ch(CALL)})
    await _until(lambda: bool(w.finals), "final record")
    return w.finals[-1]


async def test_out3_wrong_codes_across_calls_lock_pin_entry_on_the_line() -> None:
    """Two wrong codes lock here: the second call's second wrong code starts the lockout (an
    alert), the call is refused at once, and the next call is refused without a PIN prompt,
    even by someone who knows a valid code; a colleague's line still asks for one."""
    settings = OutboundSettings(digit_timeout_s=0.5, pin_attempts=3, pin_lockout_after=2)
    w = World(outbound=OutboundPolicy(DIRECTORY, settings, PINS))
    await w.start_call("1003", "001012345678", "ok", "1003")
    await _type_wrong_pin(w, 1)
    await _until(lambda: _played(w).count("pin_wrong") == 1, "pin_wrong")
    await _finish_playback(w)
    await _type_wrong_pin(w, 2, "222222#")
    rec = await _end_refused_call(w)
    assert _played(w) == ["enter_pin", "pin_wrong", "enter_pin", "refused_class"]  # no third try
    assert rec.disposition == "pin_locked" and rec.authorized_by is None
    [violation] = rec.violations
    assert (violation["rule"], violation["severity"], violation["person"]) == ("OUT-3", "alert", "chen.jie")
    [(_, alert)] = [(e, f) for e, f in w.events if e == "alert.pin_lockout"]
    assert (alert["ext"], alert["person"], alert["rule"]) == ("1003", "chen.jie", "OUT-3")
    assert datetime.fromisoformat(alert["until"]) > datetime.now(UTC) + timedelta(minutes=29)
    assert [f["attempt"] for e, f in w.events if e == "call.pin_rejected"] == [1, 2]

    w.ari.actions.clear()
    await w.start_call("1003", "001012345678", "ok", "1003")
    await _until(lambda: _played(w) == ["refused_class"], "refusal without a PIN prompt")
    assert "answer" not in w.names() and ("progress", CALL) in w.ari.actions  # early media only
    rec = await _end_refused_call(w)
    assert rec.disposition == "pin_locked" and [v["rule"] for v in rec.violations] == ["OUT-3"]
    assert len([e for e, _ in w.events if e == "alert.pin_lockout"]) == 1  # announced once

    w.ari.actions.clear()
    await w.start_call("2003", "001012345678", "ok", "2003")
    await _until(lambda: _played(w) == ["enter_pin"], "a colleague is still asked for a code")
    await w.send({"type": "StasisEnd", **ch(CALL)})


async def test_out3_only_wrong_codes_count_towards_a_lockout() -> None:
    """Nothing typed, or a valid code of too low a class, is not a guess."""
    pins = PinBook({"wang.li": hash_pin("246813"), "chen.jie": hash_pin("135790")}, min_digits=6)
    settings = OutboundSettings(digit_timeout_s=0.3, pin_attempts=2, pin_lockout_after=1)
    w = World(outbound=OutboundPolicy(DIRECTORY, settings, pins))
    await w.start_call("1003", "001012345678", "ok", "1003")
    await _type_wrong_pin(w, 1, "135790#")  # 陈杰's own code: his class does not cover national
    await _until(lambda: _played(w).count("pin_wrong") == 1, "pin_wrong")
    await _finish_playback(w)
    await _until(lambda: _played(w).count("enter_pin") == 2, "enter_pin")
    await _finish_playback(w)  # then nothing is typed: the digit timeout ends the entry
    await _until(lambda: _played(w).count("pin_wrong") == 2, "pin_wrong")
    await _finish_playback(w)
    rec = await _end_refused_call(w)
    assert rec.disposition == "pin_refused"
    reasons = [f["reason"] for e, f in w.events if e == "call.pin_rejected"]
    assert reasons == ["pin_class_too_low", "no_pin"]
    lockouts = w.manager._ctx.pin_lockouts
    assert lockouts is not None and lockouts.locked("1003", "chen.jie", datetime.now(UTC)) is None


def _open_always() -> AnsweringPolicy:
    hours = {"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}
    return AnsweringPolicy(
        DIRECTORY,
        AnsweringSettings.model_validate({"ring_cadence_s": 0.02, "greeting": "off", "office_hours": hours}),
    )


async def _outside_call(w: World, dialed: str) -> None:
    await w.send(
        {
            "type": "StasisStart",
            "args": ["inbound", dialed, "ok"],
            "channel": {
                "id": CALL,
                "caller": {"number": "01088886666"},
                "creationtime": "2026-11-22T10:00:00.000+0000",
            },
        }
    )


def _leg(n: int) -> str:
    return f"{CALL}-leg{n}"


async def test_ring_limit_cancels_the_phone_and_rings_the_next_hop() -> None:
    """ANS-1/3 on the fake ARI: 3 rings x 0.02 s after the 180, then the hunt group."""
    w = World(answering=_open_always())
    await _outside_call(w, "1003")
    assert [a[2] for a in w.ari.actions if a[0] == "create"] == ["PJSIP/1003"]
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(_leg(1))})
    await w.send({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": _leg(1)}})
    await _until(lambda: ("hangup", _leg(1), 19) in w.ari.actions, "ring limit cancel")
    await w.send({"type": "ChannelDestroyed", "cause": 19, **ch(_leg(1))})
    assert [a[2] for a in w.ari.actions if a[0] == "create"] == ["PJSIP/1003", "PJSIP/8000"]
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(_leg(2))})
    await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": _leg(2)}})
    assert ("bridge_add", f"cg-{CALL}", (CALL, _leg(2))) in w.ari.actions
    await w.send({"type": "StasisEnd", **ch(CALL)})
    await w.send({"type": "ChannelDestroyed", "cause": 16, **ch(_leg(2))})
    [rec] = w.finals
    assert rec.disposition == "answered" and rec.callee is not None and rec.callee.number == "8000"
    assert [v["rule"] for v in rec.violations] == ["ANS-1"] and rec.violations[0]["extension"] == "1003"


async def test_busy_phone_is_skipped_and_the_last_hop_offers_a_message() -> None:
    w = World(answering=_open_always())
    await _outside_call(w, "1003")
    for n, cause in ((1, 17), (2, 21), (3, 17)):  # busy, declined, busy: no waiting at all
        await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(_leg(n))})
        await w.send({"type": "ChannelDestroyed", "cause": cause, **ch(_leg(n))})
    assert ("answer", CALL) in w.ari.actions and _played(w) == ["target_unavailable"]
    assert not any(v["rule"] == "ANS-6" for r in w.records for v in r.violations)  # outside caller


async def test_caller_leaving_while_a_hop_rings_cancels_every_phone() -> None:
    w = World(answering=_open_always())
    await _outside_call(w, "2001")  # the assistant first
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(_leg(1))})
    await w.send({"type": "StasisEnd", **ch(CALL)})
    assert ("hangup", _leg(1), None) in w.ari.actions
    await w.send({"type": "ChannelDestroyed", "cause": 16, **ch(_leg(1))})
    [rec] = w.finals
    assert rec.disposition == "abandoned" and rec.hangup_by == "caller"
    assert [a[2] for a in w.ari.actions if a[0] == "create"] == ["PJSIP/2002"]


class RacingAri(FakeAri):
    """What adopt() asks after a reconnect. The new call's StasisStart arrives while adoption
    is still asking about its channel: the listing's answer overtook the event."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    async def filter_events(self, allowed: list[str]) -> None:
        self._do("filter")

    async def application(self) -> dict[str, Any]:
        return {"channel_ids": [CALL], "bridge_ids": []}

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        self._do("get", channel_id)
        dialplan = {"app_name": "Stasis", "app_data": "callguard,internal,1002,ok,1001"}
        return {"id": channel_id, "caller": {"number": "1001"}, "state": "Ring", "dialplan": dialplan}

    async def get_bridge(self, bridge_id: str) -> dict[str, Any]:
        start = {"type": "StasisStart", "args": ["internal", "1002"], **ch(CALL, caller={"number": "1001"})}
        await self.world.send(start)
        raise AriGone("no bridge", 404)


async def test_a_call_arriving_while_adoption_asks_about_it_gets_one_session() -> None:
    w = World()
    ari = RacingAri(w)
    w.ari = ari
    await w.manager.adopt(ari)  # type: ignore[arg-type]  # the calls adopt() makes, no more
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(w.manager._sessions) == 1
    # 1002 rings once: two sessions would each ring it for the same call.
    assert [a[:3] for a in ari.actions if a[0] == "create"] == [("create", LEG, "PJSIP/1002")]


class EmptyAri(FakeAri):
    """Asterisk after a restart of callguard: no call of its application is left."""

    async def filter_events(self, allowed: list[str]) -> None:
        self._do("filter")

    async def application(self) -> dict[str, Any]:
        return {"channel_ids": [], "bridge_ids": []}


async def test_adoption_unsets_the_facts_of_calls_that_ended_while_callguard_was_down() -> None:
    """LOG-1: the store names the calls left open that Asterisk no longer has; their facts
    (CG_CALL_<channel>) are unset, and nothing else is."""
    w = World()
    ari = EmptyAri()
    w.ari = ari
    asked: list[set[str]] = []

    async def close_unobserved(still_open: set[str]) -> list[str]:
        asked.append(still_open)
        return ["1700.1", "1700.2"]

    w.manager._close_unobserved = close_unobserved
    for name in ("CG_CALL_1700_1", "CG_CALL_1700_2", "CG_CALL_1700_3"):
        await ari.set_global_var(name, "cg1:x")
    await w.manager.adopt(ari)  # type: ignore[arg-type]
    assert asked == [set()]
    assert {name for _, name in ari.variables} == {"CG_CALL_1700_3"}
