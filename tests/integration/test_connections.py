"""callguard's view of Asterisk: AMI device states, and clear reports when it cannot connect."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from callguard.ami import AmiWatcher
from callguard.config import AmiSettings
from callguard.lab import Lab
from tests.integration.harness import Harness
from tests.waiting import eventually

pytestmark = pytest.mark.lab


async def test_ami_watcher_follows_a_phone_ringing_and_hanging_up(harness: Harness, lab: Lab) -> None:
    assert lab.state is not None
    watcher = AmiWatcher(
        AmiSettings(port=lab.state.ami_port, user=lab.state.ami_user, password=lab.state.ami_password)
    )
    task = asyncio.create_task(watcher.run())
    try:
        assert await eventually(lambda: watcher.connected, 10)
        phone = await harness.phone("2002", "no_answer")
        call = await harness.dial("2001", "2002", cancel_after_ms=1500)
        assert await eventually(lambda: watcher.state_of("2002") == "RINGING", 5)
        assert await call.wait() == 0 and await phone.wait() == 0
        assert await eventually(lambda: watcher.state_of("2002") == "NOT_INUSE", 5)
    finally:
        task.cancel()
    await harness.wait_clean()


def _run_briefly(config: Path, seconds: float = 4.0) -> list[dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "callguard", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _variant(lab: Lab, tmp_path: Path, **replace: str) -> Path:
    assert lab.state is not None
    src = Path(lab.state.config_path)
    text = src.read_text()
    text = re.sub(r"(?m)^file = .*$", 'file = ""', text)  # log to stdout
    text = text.replace('directory = "directory.toml"', f'directory = "{src.parent / "directory.toml"}"')
    text = text.replace('pins = "pins.toml"', f'pins = "{src.parent / "pins.toml"}"')
    text = text.replace('tariffs = "tariffs.toml"', f'tariffs = "{src.parent / "tariffs.toml"}"')
    text = text.replace(
        f'url = "sqlite+aiosqlite:///{lab.state_dir}/calls.db"',
        f'url = "sqlite+aiosqlite:///{tmp_path}/calls.db"',
    )
    # Its own journal too: the lab's callguard holds the lab's journal locked (LOG-2).
    text = text.replace(f'journal = "{lab.state_dir}/journal.jsonl"', f'journal = "{tmp_path}/journal.jsonl"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "callguard.toml"
    path.write_text(text + "\n")
    return path


async def test_wrong_credentials_are_reported_by_name(lab: Lab, tmp_path: Path) -> None:
    assert lab.state is not None
    config = _variant(
        lab,
        tmp_path,
        **{
            f'password = "{lab.state.ari_password}"': 'password = "wrong"',
            f'password = "{lab.state.ami_password}"': 'password = "wrong-too"',
        },
    )
    events = {e["event"] for e in _run_briefly(config)}
    assert "ari.auth_failed" in events and "ari.connected" not in events
    assert "ami.login_failed" in events and "ami.connected" not in events
    assert "service.stopped" in events


async def test_unreachable_asterisk_is_retried_and_reported(lab: Lab, tmp_path: Path) -> None:
    assert lab.state is not None
    config = _variant(lab, tmp_path, **{lab.state.ari_url: "http://127.0.0.1:9"})
    failures = [e for e in _run_briefly(config) if e["event"] == "ari.connect_failed"]
    assert len(failures) >= 2  # it keeps trying, with backoff
    assert all(e["url"] == "http://127.0.0.1:9" and "retry_in_s" in e for e in failures)
