"""LOG-6 supervision through the real lab: with `record_percent = 100`, an outside call is announced
("本通话可能被录音") to the caller, its bridge is recorded by Asterisk, the record names the
recording, and in the console an auditor lists and plays it while an employee is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from callguard.lab import Lab
from callguard.policy.supervision import NOTICE_PROMPT, recording_name
from tests.integration.conftest import EXTRA_TEST_CONFIG, outbound_test_config
from tests.integration.harness import AriWatch, Harness, now
from tests.integration.live_console import live_console

pytestmark = pytest.mark.lab

SUPERVISION_ALL = "\n[supervision]\nrecord_percent = 100\n"


def _order(watch: AriWatch, caller: str) -> list[str]:
    """What Asterisk reported, in order: the notice ending on the caller's channel, the caller
    entering the bridge, the bridge's recording starting."""
    seen = []
    for e in watch.events:
        kind, playback = e.get("type"), e.get("playback") or {}
        if kind == "PlaybackFinished" and playback.get("target_uri") == f"channel:{caller}":
            if playback.get("media_uri") == f"sound:callguard/{NOTICE_PROMPT}":
                seen.append("notice finished")
        elif kind == "ChannelEnteredBridge" and (e.get("channel") or {}).get("id") == caller:
            seen.append("caller bridged")
        elif (
            kind == "RecordingStarted"
            and (e.get("recording") or {}).get("target_uri") == f"bridge:cg-{caller}"
        ):
            seen.append("recording")
    return list(dict.fromkeys(seen))  # each at its first report (a bridge event may come twice)


@pytest.fixture
def recording_everything(lab: Lab) -> Iterator[None]:
    lab.reconfigure(outbound_test_config(), EXTRA_TEST_CONFIG + SUPERVISION_ALL)
    try:
        yield
    finally:
        lab.reconfigure(outbound_test_config(), EXTRA_TEST_CONFIG)


async def test_a_sampled_outside_call_is_announced_recorded_and_played_to_an_auditor(
    recording_everything: None, harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    t0 = now()
    phone = await harness.phone("2003", "answer", answer_after_ms=300)
    caller = await harness.outside_call("13912345678", "2003", talk_ms=4000)
    assert await caller.wait() == 0 and await phone.wait() == 0
    assert caller.saw("ANSWERED")
    rec = await harness.wait_record(t0, "2003")
    call_id = rec["call_id"]
    assert rec["disposition"] == "answered"
    # Asterisk itself played the notice to the caller's channel, before the parties talked.
    assert NOTICE_PROMPT in ari_watch.prompts(call_id)
    assert _order(ari_watch, call_id) == ["notice finished", "caller bridged", "recording"]
    name = recording_name(call_id)
    assert rec["recording"] == f"{name}.wav"
    await harness.wait_clean()
    stored = lab.ari_get(f"/recordings/stored/{name}")
    assert stored is not None and stored["format"] == "wav"

    async with live_console(lab) as console, httpx.AsyncClient(base_url=console.url) as client:
        listed = await client.get("/api/v1/recordings", headers=console.auth("he.gang"))
        assert listed.status_code == 200
        [row] = [r for r in listed.json() if r["call_id"] == call_id]
        assert row["caller"] == "13912345678"  # auditors see numbers (SEC-2 default)
        played = await client.get(f"/recordings/{row['id']}/audio", headers=console.auth("he.gang"))
        assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
        # Four seconds of 8 kHz 16-bit talk, less the notice: well over a second of audio.
        assert played.content[:4] == b"RIFF" and len(played.content) > 16_000
        refused = await client.get(f"/recordings/{row['id']}/audio", headers=console.auth("chen.jie"))
        assert refused.status_code == 403
        assert (await client.get("/api/v1/recordings", headers=console.auth("chen.jie"))).status_code == 403


async def test_internal_calls_are_never_recorded(
    recording_everything: None, harness: Harness, ari_watch: AriWatch
) -> None:
    t0 = now()
    phone = await harness.phone("1002", "answer", answer_after_ms=300)
    caller = await harness.dial("1001", "1002", talk_ms=1000)
    assert await caller.wait() == 0 and await phone.wait() == 0
    rec = await harness.wait_record(t0, "1002")
    assert rec["recording"] is None and NOTICE_PROMPT not in ari_watch.prompts(rec["call_id"])
    await harness.wait_clean()
