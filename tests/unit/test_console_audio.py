"""Recordings for the console's players (XFER-3): a record's name never walks out of the spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from callguard.config import Config
from callguard.web.audio import RecordingUnavailable, fetch_recording, media_type
from tests.integration.console_records import console_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return console_config(tmp_path)


@pytest.mark.parametrize("name", ["../callguard.toml", "..", ".hidden", "a/b.wav", "x.wav?y=1", ""])
async def test_names_that_leave_the_spool_are_refused(config: Config, name: str) -> None:
    with pytest.raises(RecordingUnavailable, match="not a recording name"):
        await fetch_recording(config, name)


async def test_a_missing_recording_is_one_clear_line(config: Config) -> None:
    with pytest.raises(RecordingUnavailable, match=r"^/.*/recordings/msg-nope\.wav: No such file"):
        await fetch_recording(config, "msg-nope.wav")


def test_media_types() -> None:
    assert media_type("msg-1.wav") == "audio/wav" and media_type("x.gsm") == "audio/x-gsm"
    assert media_type("x") == "application/octet-stream"
