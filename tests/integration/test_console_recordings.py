"""Supervision recordings in the console (LOG-6): auditors and admins list the recorded sample and
play one (audited); every other role is refused (LOG-3). Real SQLite filled by the record writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callguard.policy import Party
from callguard.policy.ladder import Ladder
from callguard.records import CallRecord, LegRecord
from callguard.store import write_records
from callguard.store.audit import list_entries
from tests.integration.console_records import ZHOU, Console, console

RECORDING = "supervision-inbound-9.wav"
AUDIO = b"RIFF....WAVEfmt recorded call"


@pytest.fixture
async def recorded(tmp_path: Path) -> AsyncIterator[Console]:
    async for made in console(tmp_path):
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        call = CallRecord(
            "inbound-9", "node1", "inbound", "2003", Party("13800138000"), callee=ZHOU, started_at=start,
            answered_at=start + timedelta(seconds=3), ended_at=start + timedelta(seconds=40),
            disposition="answered", recording=RECORDING,
        )  # fmt: skip
        call.legs.append(LegRecord("caller", "inbound-9-c", "13800138000", started_at=start))
        await write_records(made.engine, [call], Ladder.from_config(made.config))
        (Path(made.config.console.recordings_dir) / RECORDING).write_bytes(AUDIO)
        yield made


async def test_an_auditor_lists_the_sample_and_plays_a_recording_audited(recorded: Console) -> None:
    async with recorded.client("he.gang") as auditor:
        listed = await auditor.get("/api/v1/recordings")
        assert listed.status_code == 200
        [row] = listed.json()  # only the recorded call, none of the five others
        assert (row["call_id"], row["recording"], row["callee"]) == ("inbound-9", RECORDING, "2003")
        played = await auditor.get(f"/recordings/{row['id']}/audio")
        assert played.status_code == 200 and played.content == AUDIO
        assert played.headers["content-type"] == "audio/wav"
        assert (await auditor.get("/recordings/999999/audio")).status_code == 404
        page = await auditor.get("/recordings", headers={"Accept": "text/html"})
        assert (
            f'data-recording-id="{row["id"]}"' in page.text
            and f'src="/recordings/{row["id"]}/audio"' in page.text
        )
    entries = await list_entries(recorded.engine, account="he.gang")
    assert [(e["action"], e["count"]) for e in entries][:4] == [
        ("recordings.list", 1),
        ("recordings.play", 0),
        ("recordings.play", 1),
        ("recordings.list", 1),
    ]


@pytest.mark.parametrize("person", ["chen.jie", "liu.yang", "zhao.min", "ma.lin"])
async def test_other_roles_are_refused_the_recordings(recorded: Console, person: str) -> None:
    async with recorded.client(person) as client:
        for path in (
            "/api/v1/recordings",
            "/recordings.csv",
            "/api/v1/recordings/1/audio",
            "/recordings/1/audio",
        ):
            assert (await client.get(path)).status_code == 403, path
    entries = await list_entries(recorded.engine, account=person)
    assert {e["action"] for e in entries} == {"recordings.refused"}
