"""The lab as a user drives it: `callguard lab up / status / down` and its answering phones."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callguard.lab.lab import _alive
from callguard.lab.phones import caller_scenario, one_call_args, start_sipp

pytestmark = pytest.mark.lab

REQUIRED_STATE_KEYS = {
    "ari_url",
    "ari_user",
    "ari_password",
    "ami_port",
    "sip_host",
    "sip_port",
    "mqtt_host",
    "mqtt_port",
    "database_url",
    "pstn_address",
    "carrier_port",
    "phones",
}


def cg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callguard", *args], capture_output=True, text=True, timeout=120, env=env
    )


async def test_lab_up_status_call_and_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "lab"
    up = cg("lab", "up", "--detach", "--port-offset", "300", "--state-dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    try:
        status = cg("lab", "status", "--json", "--state-dir", str(state_dir))
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert set(state) >= REQUIRED_STATE_KEYS
        assert state["sip_port"] == 5360 and state["pstn_address"] == "127.0.0.2"
        assert state["phones"]["1001"] == 16300 and len(state["phones"]) == 11
        assert all(state["running"].values()) and "phone-carrier" in state["running"]

        # The lab's own phones answer (after 2 s) and talk until the caller hangs up.
        call = await start_sipp(
            tmp_path,
            "call",
            caller_scenario("1001", "2003", talk_ms=500),
            one_call_args(state["sip_host"], state["sip_port"]),
        )
        assert await call.wait(30) == 0
        assert call.saw("RINGING") and call.saw("ANSWERED")
        listed = cg("calls", "list", "--json", "--state-dir", str(state_dir))
        deadline = time.monotonic() + 10
        while '"answered"' not in listed.stdout and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            listed = cg("calls", "list", "--json", "--state-dir", str(state_dir))
        [rec] = json.loads(listed.stdout)
        assert rec["disposition"] == "answered" and rec["callee"]["number"] == "2003"
    finally:
        down = cg("lab", "down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    await asyncio.sleep(0.5)
    assert not any(_alive(pid) for pid in state["pids"].values()), "lab down left processes behind"


def test_missing_sipp_is_one_sentence(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on PATH: no sipp
    result = cg("lab", "up", "--detach", "--state-dir", str(tmp_path / "lab"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "callguard: SIPp is not installed: `apt install sip-tester` (it simulates the desk phones)."
    )
    assert not (tmp_path / "lab" / "state.json").exists()
