"""LOG-6 at the connect step, against the fake ARI: a sampled call dialled out plays the recording
notice to both sides, bridges only once both have heard it, then records the bridge; with
record_percent 0 the same call bridges at once and records nothing."""

from __future__ import annotations

from callguard.calls import CallManager
from callguard.config import CallSettings
from callguard.config.supervision import SupervisionSettings
from callguard.records import CallRecord
from tests.unit.test_session import CALL, DIRECTORY, OUTBOUND, World, ch

LEG = f"{CALL}-leg1"
BRIDGE = f"cg-{CALL}"


def world(percent: float) -> World:
    w = World(outbound=OUTBOUND)
    w.manager = CallManager(
        DIRECTORY,
        CallSettings(no_answer_timeout_s=20),
        "n1",
        lambda: w.ari,
        lambda e, **f: w.events.append((e, f)),
        w.records.append,
        outbound=OUTBOUND,
        supervision=SupervisionSettings(record_percent=percent),
    )
    return w


async def answered_outside_call(w: World) -> None:
    await w.start_call("1003", "062345678", "ok", "1003")  # a local call: no PIN needed
    await w.send({"type": "StasisStart", "args": ["leg", CALL], **ch(LEG)})
    await w.send({"type": "Dial", "dialstatus": "RINGING", "peer": {"id": LEG}})
    await w.send({"type": "Dial", "dialstatus": "ANSWER", "peer": {"id": LEG}})


def notices(w: World) -> list[tuple[str, str]]:
    return [
        (a[1], a[3]) for a in w.ari.actions if a[0] == "play" and a[2] == "sound:callguard/recording_notice"
    ]


async def test_a_sampled_call_is_announced_to_both_sides_then_bridged_and_recorded() -> None:
    w = world(100)
    await answered_outside_call(w)
    played = notices(w)
    assert [channel for channel, _ in played] == [CALL, LEG]
    assert "bridge_add" not in w.names()  # nobody talks before both heard the notice
    for channel, playback_id in played:
        await w.send(
            {"type": "PlaybackFinished", "playback": {"id": playback_id, "target_uri": f"channel:{channel}"}}
        )
    names = w.names()
    assert names.index("bridge_add") < names.index("record_bridge")
    assert ("record_bridge", BRIDGE, f"supervision-{CALL}") in w.ari.actions
    assert (
        "call.recording",
        {"call_id": CALL, "recording": f"supervision-{CALL}.wav", "rule": "LOG-6"},
    ) in w.events
    await w.send({"type": "StasisEnd", **ch(CALL)})
    await w.send({"type": "ChannelDestroyed", **ch(LEG), "cause": 16})
    [final] = w.finals
    assert isinstance(final, CallRecord) and final.recording == f"supervision-{CALL}.wav"


async def test_an_unsampled_call_bridges_at_once_and_records_nothing() -> None:
    w = world(0)
    await answered_outside_call(w)
    assert notices(w) == [] and "bridge_add" in w.names() and "record_bridge" not in w.names()


async def test_a_caller_leaving_during_the_notice_is_never_recorded() -> None:
    w = world(100)
    await answered_outside_call(w)
    await w.send({"type": "StasisEnd", **ch(CALL)})
    await w.send({"type": "ChannelDestroyed", **ch(LEG), "cause": 16})
    assert "record_bridge" not in w.names()
    assert [r.recording for r in w.finals] == [None]
