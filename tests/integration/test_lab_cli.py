"""The lab as a user drives it: `callguard lab up / status / down` and its answering phones."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import aiohttp
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
        # The console runs beside callguard (issue 11): its sign-in page answers at web_url.
        assert state["web_url"] == "http://127.0.0.1:8780" and state["running"]["web"]
        async with aiohttp.ClientSession() as http, http.get(state["web_url"] + "/login") as page:
            assert page.status == 200 and 'id="login"' in await page.text()

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


PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_product_wheel_leaves_the_lab_out(tmp_path: Path) -> None:
    """Issue 9: `pip wheel .` ships callguard without the lab (no module, no SIPp template), and the
    `callguard` command of that wheel works and offers no lab commands."""
    # A clean copy: a checkout's build/ may still hold a lab from an older build.
    src = tmp_path / "src"
    shutil.copytree(
        PROJECT_DIR / "callguard", src / "callguard", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_DIR / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("callguard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "callguard/cli/__init__.py" in names and "callguard/service.py" in names
    assert [n for n in names if n.startswith("callguard/lab/") or n.endswith((".xml", "sdp.txt"))] == []
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "callguard = callguard.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # As installed: the wheel's files and the dependencies, without the checkout's editable callguard
    # (python -S skips the .pth files that install its finder).
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run = (
        "import sys, importlib.util, callguard, callguard.cli;"
        f"assert callguard.__file__.startswith({str(site)!r}), callguard.__file__;"
        "assert importlib.util.find_spec('callguard.lab') is None;"
        "sys.exit(callguard.cli.main())"
    )
    dependencies = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "pydantic").is_dir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), dependencies])}

    def wheel_cg(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-S", "-c", run, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)

    helped = wheel_cg("--help")
    assert helped.returncode == 0, helped.stderr
    assert "check-config" in helped.stdout and "calls" in helped.stdout
    assert "lab" not in helped.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert "bench" not in helped.stdout
    refused = wheel_cg("lab", "up")
    assert refused.returncode == 2 and "invalid choice: 'lab'" in refused.stderr
    # Without the lab, a command that reads records says what to give instead of the lab's.
    listed = wheel_cg("calls", "list")
    assert listed.returncode == 1
    assert listed.stderr.strip() == "callguard: say which records to read: --config FILE or --db URL"
