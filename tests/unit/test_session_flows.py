"""The call's flows as tables, asterisk/testsuite style: typed events in, with a fake clock,
effects out. No ARI, no sleeps: `dispatch` is a plain function of (call, event, now)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.adoption import Adoption, resume
from callguard.calls.call import Call, LegState, Phase, new_call, usable
from callguard.calls.context import SessionContext
from callguard.calls.dial_bridges import dial_bridge_id
from callguard.calls.executor import Executor, ringback_tone
from callguard.calls.flows import start
from callguard.calls.flows.dialogue import play
from callguard.calls.session import CallSession, dispatch
from callguard.config import AnsweringSettings, CallSettings, OfficeHours, OutboundSettings
from callguard.lab.asterisk import indications_conf
from callguard.policy import AnsweringPolicy, CallRequest, OutboundPolicy, PinBook, calling_party, hash_pin
from callguard.records import CallRecord
from tests.unit.test_session import DIRECTORY, FakeAri, World, ch

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CALL = "pbx-9.1"
ALWAYS_OPEN = OfficeHours(days=(1, 2, 3, 4, 5, 6, 7), start="00:00", end="24:00")
ANSWERING = AnsweringPolicy(
    DIRECTORY, AnsweringSettings(office_hours=ALWAYS_OPEN, ring_cadence_s=5.0, greeting="off")
)
PINS = PinBook({"wang.li": hash_pin("246813")}, min_digits=6)


def _no_emit(event: str, /, **fields: Any) -> None:
    pass


def _ctx(**kw: Any) -> SessionContext:
    fake = FakeAri()
    return SessionContext(
        directory=DIRECTORY,
        settings=CallSettings(no_answer_timeout_s=20),
        node="n1",
        ari=lambda: fake,
        emit=_no_emit,
        submit_record=lambda record: None,
        register_channel=lambda channel_id, session: None,
        forget=lambda session: None,
        monotonic=lambda: 1000.0,
        **kw,
    )


def _call(ctx: SessionContext, caller: str, dialed: str, direction: str, line: str | None = None) -> Call:
    request = CallRequest(caller=caller, dialed=dialed, direction=direction, line=line, at=T0)
    record = CallRecord(
        call_id=CALL,
        node="n1",
        direction=direction,
        dialed=dialed,
        caller=calling_party(ctx.directory, request),
        started_at=T0,
    )
    return new_call(CALL, request, record, T0)


def _kinds(effects: list[fx.Effect]) -> list[str]:
    return [type(e).__name__ if not isinstance(e, fx.Emit) else e.event for e in effects]


def _leg(n: int) -> str:
    return f"{CALL}-leg{n}"


def test_an_outside_call_rings_its_hops_in_turn_as_a_table() -> None:
    """ANS-1/ANS-3 on a fake clock: 1003 rings 3 x 5 s, is cancelled at its limit (a violation),
    and the hunt group rings next; its answer connects the call."""
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    effects = start.start(call, ctx, T0)
    assert _kinds(effects) == [
        "call.started",
        "call.decision",
        "call.hop",
        "CreateLeg",
        "Submit",  # LOG-1: a call with facts worth keeping is on record at each step
        "Persist",
    ]
    table: list[tuple[ev.Event, float, list[str]]] = [
        (ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), 0.1, ["Dial"]),
        (
            ev.Dialled(_leg(1), "RINGING", T0 + timedelta(seconds=0.2)),
            0.2,
            ["StartTimer", "call.ringing", "Ring"],
        ),
        (ev.TimerFired(f"ring_limit:{_leg(1)}"), 15.2, ["call.violation", "call.ring_limit", "Hangup"]),
        (ev.ChannelGone(_leg(1), 19), 15.3, ["call.hop", "CreateLeg", "Submit", "Persist"]),
        (ev.StasisStarted(ev.Channel(_leg(2)), ("leg", CALL)), 15.4, ["Dial"]),
        (ev.Dialled(_leg(2), "ANSWER", T0 + timedelta(seconds=16)), 16.0, []),
    ]
    kept: list[CallRecord] = []
    for event, at_s, expected in table:
        out = dispatch(call, ctx, event, T0 + timedelta(seconds=at_s))
        kept += [e.record for e in out if isinstance(e, fx.Submit)]
        if expected:
            assert _kinds(out) == expected, event
    # What the store holds if the call ends while no callguard runs: the missed limit and both
    # phones rung from the moment the second hop rings, and who answered once the call talks.
    second_hop, answered = kept
    for record in kept:
        assert record.disposition == "in_progress" and [v["rule"] for v in record.violations] == ["ANS-1"]
    assert [(leg.role, leg.number) for leg in second_hop.legs] == [
        ("caller", "01088886666"),
        ("callee", "1003"),
        ("callee", "8000"),
    ]
    assert [leg.number for leg in answered.legs if leg.role == "callee" and leg.answered_at] == ["8000"]
    assert call.phase is Phase.talking and call.talking_leg == _leg(2)
    hangup = next(e for e in dispatch(call, ctx, ev.StasisEnded(CALL), T0) if isinstance(e, fx.Hangup))
    assert hangup == fx.Hangup(_leg(2), 16, "cancel_leg")
    [violation] = call.record.violations
    assert (violation["rule"], violation["extension"]) == ("ANS-1", "1003")


def _answered(late: bool) -> list[fx.Effect]:
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), T0)
    dispatch(call, ctx, ev.Dialled(_leg(1), "RINGING", T0), T0)
    call.legs[_leg(1)].late = late  # ANS-2: past its limit, on a hop that keeps ringing
    return dispatch(call, ctx, ev.Dialled(_leg(1), "ANSWER", T0 + timedelta(seconds=5)), T0)


def test_an_answer_leaves_the_dial_bridge_first_only_when_a_prompt_comes_before_the_bridge() -> None:
    """A leg rings in one of callguard's dial bridges. Answered in time it goes straight to the
    call's bridge (Asterisk moves it: no request of its own); answered late, it hears ANS-2's
    whisper first, alone, so it leaves the dial bridge before that."""
    on_time = _answered(late=False)
    assert not [e for e in on_time if isinstance(e, fx.RemoveFromBridge)]
    assert fx.AddToBridge(f"cg-{CALL}", (CALL, _leg(1))) in on_time
    late = _answered(late=True)
    left = fx.RemoveFromBridge(dial_bridge_id("n1", _leg(1)), (_leg(1),))
    whisper = next(e for e in late if isinstance(e, fx.Play) and e.channel_id == _leg(1))
    assert late[0] == left and whisper.prompt == "caller_waited"


def test_a_ring_limit_during_a_prompt_is_handled_at_once() -> None:
    """The prompt on top of the stack does not consume a leg's timer: it drops to the ringing
    flow there and then, and the prompt still waits for its own end."""
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), T0)
    dispatch(call, ctx, ev.Dialled(_leg(1), "RINGING", T0), T0)
    heard: list[str] = []

    def then(call: Call, ctx: SessionContext, now: datetime) -> list[fx.Effect]:
        heard.append("then")
        return []

    play(call, ctx, T0, "some_prompt", then)
    assert len(call.stack) == 1
    out = dispatch(call, ctx, ev.TimerFired(f"ring_limit:{_leg(1)}"), T0 + timedelta(seconds=15))
    assert fx.Hangup(_leg(1), 19, "cancel_leg") in out and call.legs[_leg(1)].state is LegState.cancelled
    assert heard == [] and len(call.stack) == 1
    prompt_id = next(iter(call.stack)).playback_id  # type: ignore[attr-defined]
    dispatch(call, ctx, ev.PlaybackDone(prompt_id, CALL), T0 + timedelta(seconds=16))
    assert heard == ["then"] and call.stack == []


def test_pin_question_as_a_table_and_the_pin_never_leaves_the_check() -> None:
    """OUT-3: prompt, barge-in, digits, the PIN checked by an effect, then the trunk."""
    outbound = OutboundPolicy(DIRECTORY, OutboundSettings(digit_timeout_s=3), PINS)
    ctx = _ctx(outbound=outbound)
    call = _call(ctx, "1003", "001012345678", "internal", line="1003")
    effects = start.start(call, ctx, T0)
    # The PIN question is a step a restart resumes: the facts are kept as it starts.
    assert _kinds(effects)[-6:] == ["Answer", "Play", "call.prompt", "StartTimer", "Submit", "Persist"]
    prompt = next(e for e in effects if isinstance(e, fx.Play))
    assert prompt.prompt == "enter_pin"
    out = dispatch(call, ctx, ev.DtmfReceived(CALL, "2"), T0)
    assert out == [fx.StopPlayback(prompt.playback_id)]
    for digit in "46813#":
        assert dispatch(call, ctx, ev.DtmfReceived(CALL, digit), T0) == []
    out = dispatch(call, ctx, ev.PlaybackDone(prompt.playback_id, CALL), T0)
    [check] = out
    assert isinstance(check, fx.CheckPin) and "246813" not in repr(check)
    out = dispatch(call, ctx, ev.PinChecked("wang.li"), T0 + timedelta(seconds=1))
    assert _kinds(out) == ["call.authorized", "Play", "call.prompt", "StartTimer", "Submit", "Persist"]
    [kept] = [e for e in out if isinstance(e, fx.Persist)]
    assert kept.facts["record"]["authorized_by"] == "wang.li" and kept.facts["step"]["at"] == "matter"
    assert "246813" not in json.dumps(kept.facts)
    assert call.record.authorized_by == "wang.li"
    prompt = next(e for e in out if isinstance(e, fx.Play))
    assert prompt.prompt == "enter_matter"
    assert call.record.prompts == ["enter_pin", "enter_matter"]  # what the caller heard


def test_a_digit_pause_ends_the_pin_and_nothing_typed_is_no_guess() -> None:
    outbound = OutboundPolicy(DIRECTORY, OutboundSettings(digit_timeout_s=3, pin_attempts=1), PINS)
    ctx = _ctx(outbound=outbound)
    call = _call(ctx, "1003", "001012345678", "internal", line="1003")
    effects = start.start(call, ctx, T0)
    prompt = next(e for e in effects if isinstance(e, fx.Play))
    [timer] = [e for e in dispatch(call, ctx, ev.PlaybackDone(prompt.playback_id, CALL), T0)]
    assert isinstance(timer, fx.StartTimer) and timer.after_s == 3
    out = dispatch(call, ctx, ev.TimerFired(timer.name), T0 + timedelta(seconds=3))
    assert _kinds(out)[:2] == ["call.pin_rejected", "Play"]
    assert next(e for e in out if isinstance(e, fx.Emit)).fields["reason"] == "no_pin"


def test_the_facts_of_a_call_survive_a_snapshot_round_trip() -> None:
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), T0)
    dispatch(call, ctx, ev.Dialled(_leg(1), "RINGING", T0), T0)
    dispatch(call, ctx, ev.TimerFired(f"ring_limit:{_leg(1)}"), T0 + timedelta(seconds=15))
    facts = json.loads(json.dumps(call.snapshot()))
    again = Call.restore(call.request, facts)
    assert again.snapshot() == facts
    assert again.hops == call.hops and again.hop_index == 0 and again.legs[_leg(1)].late
    assert again.record.violations == call.record.violations


def test_ringback_and_spoken_digits_follow_the_configured_language() -> None:
    assert "country = cn" in indications_conf("cn") and "country = de" in indications_conf("de")
    assert ringback_tone("zh_CN") == "tone:ring;tonezone=cn"
    assert ringback_tone("de_DE") == "tone:ring;tonezone=de"
    assert ringback_tone("en") == "tone:ring"


async def test_the_executor_speaks_ari_in_the_configured_language() -> None:
    ctx = _ctx(language="de_DE")
    fake = ctx.ari()
    assert isinstance(fake, FakeAri)
    executor = Executor(ctx, CALL, lambda name, after: None, lambda channel_id: None)
    effects: list[fx.Effect] = [
        fx.PlayRingback(CALL, "r1"),
        fx.SayDigits(_leg(1), "1003", "w1"),
        fx.CreateLeg(_leg(2), "62345678", "pstn", CALL, f"leg,{CALL}", ()),
    ]
    assert await executor.run(effects) == []
    assert fake.actions[0] == ("play", CALL, "tone:ring;tonezone=de", "r1", "de_DE")
    assert fake.actions[1] == ("play", _leg(1), "digits:1003", "w1", "de_DE")
    assert fake.actions[2][2] == "PJSIP/62345678@pstn"
    fake.gone.add(_leg(3))
    failed = await executor.run([fx.Dial(_leg(3), CALL, 20, (fx.Emit("call.dialing"),))])
    assert failed == [ev.ActionFailed("dial", _leg(3))]  # and its on_ok effects did not run


def _killed_at(
    call: Call, ctx: SessionContext, legs: tuple[ev.Channel, ...], now: datetime
) -> tuple[Call, Any]:
    """What a restarted callguard makes of the call: the facts kept, and Asterisk's legs."""
    facts = json.loads(json.dumps(call.snapshot()))
    again = Call.restore(call.request, facts)
    adoption = Adoption(
        leg=legs[0] if legs else None, answered_at=None, caller_up=False, facts=facts, legs=legs
    )
    return again, resume(again, ctx, adoption, now)


def test_a_restart_while_a_later_hop_rings_keeps_the_plan_and_the_limit() -> None:
    """Killed 2 s into the second hop's ring: the new process keeps the first hop's violation,
    counts the second hop's ANS-1 limit from its ring (13 s left), and the third hop follows."""
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), T0)
    dispatch(call, ctx, ev.Dialled(_leg(1), "RINGING", T0), T0)
    dispatch(call, ctx, ev.TimerFired(f"ring_limit:{_leg(1)}"), T0 + timedelta(seconds=15))
    dispatch(call, ctx, ev.ChannelGone(_leg(1), 19), T0 + timedelta(seconds=15))
    ringing_leg = ev.Channel(_leg(2), state="Ringing", created_at=T0 + timedelta(seconds=15))
    again, out = _killed_at(call, ctx, (ringing_leg,), T0 + timedelta(seconds=17))
    assert _kinds(out) == ["call.readopted", "StartTimer", "CheckChannels"]
    assert out[1] == fx.StartTimer(f"ring_limit:{_leg(2)}", 13.0)
    assert again.record.readopted and [v["extension"] for v in again.record.violations] == ["1003"]
    out = dispatch(again, ctx, ev.TimerFired(f"ring_limit:{_leg(2)}"), T0 + timedelta(seconds=30))
    out += dispatch(again, ctx, ev.ChannelGone(_leg(2), 19), T0 + timedelta(seconds=30))
    assert again.hop_index == 2 and len(again.hops) == 3
    assert [e.target for e in out if isinstance(e, fx.CreateLeg)] == list(again.hops[2].targets)


def test_a_restart_during_a_prompt_waits_for_it_instead_of_playing_it_again() -> None:
    """OUT-3: killed during the PIN prompt; the new process asks Asterisk about that playback
    and goes on with the question when it ends; the PIN prompt is not played twice."""
    outbound = OutboundPolicy(DIRECTORY, OutboundSettings(digit_timeout_s=3), PINS)
    ctx = _ctx(outbound=outbound)
    call = _call(ctx, "1003", "001012345678", "internal", line="1003")
    effects = start.start(call, ctx, T0)
    prompt = next(e for e in effects if isinstance(e, fx.Play))
    again, out = _killed_at(call, ctx, (), T0 + timedelta(seconds=1))
    assert not any(isinstance(e, fx.Play) for e in out)
    assert fx.CheckPlayback(prompt.playback_id) in out
    assert dispatch(again, ctx, ev.PlaybackDone(prompt.playback_id), T0)[0].name.startswith("digits:")  # type: ignore[union-attr]
    for digit in "246813#":
        out = dispatch(again, ctx, ev.DtmfReceived(CALL, digit), T0)
    assert [type(e) for e in out] == [fx.CheckPin]
    assert again.record.prompts == ["enter_pin"]  # heard once, kept across the restart


async def test_a_plain_call_keeps_no_facts_in_asterisk() -> None:
    """One hop, nothing authorised, no rule broken: a restart rebuilds it from the ids, so
    the busy path costs no extra ARI request."""
    w = World()
    await w.start_call()
    await w.send({"type": "StasisStart", "args": ["leg", "pbx-1.1"], **ch("pbx-1.1-leg1")})
    await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": "pbx-1.1-leg1"}})
    assert "bridge_add" in w.names() and not any(a[0] == "setglobal" for a in w.ari.actions)


def test_a_restart_during_the_message_prompt_records_after_it() -> None:
    """XFER-3: every hop was busy; killed while the caller hears target_unavailable. The new
    process waits for that prompt, then records (the prompt is not heard twice)."""
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    out: list[fx.Effect] = []
    for n in range(1, len(call.hops) + 1):
        dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(n)), ("leg", CALL)), T0)
        out = dispatch(call, ctx, ev.ChannelGone(_leg(n), 17), T0)
    prompt = next(e for e in out if isinstance(e, fx.Play))
    assert prompt.prompt == "target_unavailable" and call.step == {
        "at": "message_prompt",
        "for": call.message_for,
        "playback": prompt.playback_id,
    }
    again, out = _killed_at(call, ctx, (), T0 + timedelta(seconds=2))
    assert not any(isinstance(e, fx.Play) for e in out) and fx.CheckPlayback(prompt.playback_id) in out
    out = dispatch(again, ctx, ev.PlaybackDone(prompt.playback_id, CALL), T0 + timedelta(seconds=8))
    assert isinstance(out[0], fx.Record) and again.record.disposition == "no_message"


def test_facts_of_another_shape_fall_back_to_the_ids_in_asterisk() -> None:
    ctx = _ctx()
    request = CallRequest(caller="1001", dialed="1002", direction="internal", at=T0)
    odd = Adoption(leg=None, answered_at=None, caller_up=True, facts={"v": 1, "phase": "talking"})
    session = CallSession(ctx, ev.Channel(CALL, "1001"), request, odd)
    assert session.call.phase is Phase.new and session._adoption is not None
    assert session._adoption.facts is None


def test_only_a_restorable_snapshot_is_usable() -> None:
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    assert usable(json.loads(json.dumps(call.snapshot()))) is None
    assert (usable({"v": 1}) or "").startswith("CG_CALL: unusable snapshot: KeyError")


def test_ari_timestamps_parse_with_their_zone_and_anything_else_is_no_time() -> None:
    assert ev.parse_time("2026-11-22T20:06:36.452+0000") == datetime(2026, 11, 22, 20, 6, 36, 452000, UTC)
    assert ev.parse_time("2026-11-22T22:06:36.452+0200") == datetime(2026, 11, 22, 20, 6, 36, 452000, UTC)
    for junk in ("", "yesterday", "2026-11-22T20:06:36", "2026-11-22", None, 17):
        assert ev.parse_time(junk) is None, junk


def _dispatch_all(call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> list[fx.Effect]:
    """`dispatch`, and again for every event a sub-flow hands back (as the session does)."""
    out = dispatch(call, ctx, event, now)
    for effect in list(out):
        if isinstance(effect, fx.Redeliver):
            out += _dispatch_all(call, ctx, effect.event, now)
    return out


def _briefing_a_transfer_target() -> tuple[SessionContext, Call]:
    """An outside caller talks with 1003, who types *2 2003 #; 2003 answers and is briefed."""
    ctx = _ctx(answering=ANSWERING)
    call = _call(ctx, "01088886666", "1003", "inbound")
    start.start(call, ctx, T0)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(1)), ("leg", CALL)), T0)
    dispatch(call, ctx, ev.Dialled(_leg(1), "ANSWER", T0), T0)
    for digit in "*22003#":
        dispatch(call, ctx, ev.DtmfReceived(_leg(1), digit), T0 + timedelta(seconds=2))
    assert call.transfer is not None and call.transfer.id == _leg(2)
    dispatch(call, ctx, ev.StasisStarted(ev.Channel(_leg(2)), ("leg", CALL)), T0 + timedelta(seconds=3))
    briefing = dispatch(call, ctx, ev.Dialled(_leg(2), "ANSWER", T0 + timedelta(seconds=4)), T0)
    assert [e.prompt for e in briefing if isinstance(e, fx.Play)] == ["transfer_incoming"]
    return ctx, call


def _target_hangs_up_while_briefed(order: str) -> tuple[Call, list[fx.Effect]]:
    ctx, call = _briefing_a_transfer_target()
    pending = sorted(call.stack[-1].pending)  # type: ignore[attr-defined]
    # What Asterisk sends when the phone hangs up during the prompt: the hangup request, the
    # prompts finished (as failed), then the channel destroyed. A resync may find it gone at once.
    events: list[ev.Event] = [
        ev.HangupRequested(_leg(2), 16),
        *(ev.PlaybackDone(p, _leg(2)) for p in pending),
    ]
    events = [*events, ev.ChannelGone(_leg(2), 16)] if order == "asterisk" else [ev.ChannelGone(_leg(2), 16)]
    out: list[fx.Effect] = []
    for event in events:
        out += _dispatch_all(call, ctx, event, T0 + timedelta(seconds=6))
    return call, out


def test_a_target_hanging_up_while_it_is_briefed_fails_the_transfer() -> None:
    """XFER-2: the target answered but hung up before it heard who is coming: no completed
    transfer. The caller hears target_busy and stays with 1003, who is not hung up on."""
    for order in ("asterisk", "gone at once"):
        call, out = _target_hangs_up_while_briefed(order)
        assert "call.transferred" not in _kinds(out), order
        assert not [e for e in out if isinstance(e, fx.AddToBridge | fx.Hangup)], order
        assert [(e.channel_id, e.prompt) for e in out if isinstance(e, fx.Play)] == [(CALL, "target_busy")]
        assert call.record.transfers[-1]["result"] == "target_hung_up" and call.transfer is None
        assert call.phase is Phase.talking and call.talking_leg == _leg(1)


def test_a_briefed_target_takes_over_and_the_employee_is_released() -> None:
    ctx, call = _briefing_a_transfer_target()
    [incoming, said] = sorted(call.stack[-1].pending)  # type: ignore[attr-defined]
    dispatch(call, ctx, ev.PlaybackDone(incoming, _leg(2)), T0 + timedelta(seconds=7))
    out = dispatch(call, ctx, ev.PlaybackDone(said, _leg(2)), T0 + timedelta(seconds=12))
    assert "call.transferred" in _kinds(out) and fx.Hangup(_leg(1), 16, "cancel_leg") in out
    assert call.record.transfers[-1]["result"] == "completed" and call.talking_leg == _leg(2)


def test_a_call_routed_at_once_is_put_on_record_once_as_it_starts_ringing() -> None:
    """LOG-1: the provisional record of a plain internal call is built once (issue 12: a copy of
    the record on every call's hot path), after its leg is asked for, still in progress."""
    ctx = _ctx()
    call = _call(ctx, "1001", "1002", "internal")
    effects = start.start(call, ctx, T0)
    assert _kinds(effects) == ["call.started", "call.decision", "Submit", "CreateLeg"]
    [submitted] = [e for e in effects if isinstance(e, fx.Submit)]
    assert submitted.record.disposition == "in_progress" and submitted.record.callee is not None
    assert submitted.record.callee.number == "1002"
