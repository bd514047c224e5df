"""Least privilege and confidentiality through the real lab: the AMI user may only watch
devices, the broker admits no anonymous client, outside numbers are masked on MQTT and (when
configured) in the log (SEC-2), desk phones cannot transfer by SIP REFER (XFER-2)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from callguard.lab import Lab
from callguard.lab.phones import SippRun
from tests.integration.harness import Harness, MqttWatch, callguard_log, now

pytestmark = pytest.mark.lab

OUTSIDE = "13800138000"
MASKED = "138****8000"


def _ami(lab: Lab, *actions: dict[str, str], listen_s: float = 1.5) -> list[dict[str, str]]:
    """Log in as callguard's AMI user, send `actions`, return every message received."""
    assert lab.state is not None
    login = {"Action": "Login", "Username": lab.state.ami_user, "Secret": lab.state.ami_password}
    with socket.create_connection(("127.0.0.1", lab.state.ami_port), timeout=5) as sock:
        sock.settimeout(0.3)
        for action in (login, *actions):
            sock.sendall(("".join(f"{k}: {v}\r\n" for k, v in action.items()) + "\r\n").encode())
        data = b""
        deadline = time.monotonic() + listen_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
    messages = []
    for block in data.decode(errors="replace").split("\r\n\r\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields:
            messages.append(fields)
    return messages


def _reply(messages: list[dict[str, str]], action_id: str) -> dict[str, str]:
    return next(m for m in messages if m.get("ActionID") == action_id and "Response" in m)


async def test_ami_user_can_watch_devices_and_nothing_else(harness: Harness, lab: Lab) -> None:
    """dialplan/manager.conf: read = call,user; write = reporting; eventfilter. DeviceStateList
    works (callguard's device states at login); actions that change calls or the system do not."""
    messages = _ami(
        lab,
        {"Action": "DeviceStateList", "ActionID": "list"},
        {"Action": "Originate", "Channel": "PJSIP/1001", "Exten": "062345678", "ActionID": "orig"},
        {"Action": "Command", "Command": "core show version", "ActionID": "cmd"},
        {"Action": "Filter", "Operation": "Add", "Filter": "Event: Newchannel", "ActionID": "filter"},
        {"Action": "Hangup", "Channel": "PJSIP/1001-00000001", "ActionID": "hangup"},
    )
    assert _reply(messages, "list")["Response"] == "Success"
    listed = {m["Device"] for m in messages if m.get("ActionID") == "list" and m.get("Device")}
    assert {"PJSIP/1001", "PJSIP/9100"} <= listed
    for action_id in ("orig", "cmd", "filter", "hangup"):
        assert _reply(messages, action_id)["Message"] == "Permission denied", action_id
    # callguard's watcher loaded every phone's state without the Filter action it used to need.
    assert lab.state is not None
    loaded = [
        json.loads(line)
        for line in Path(lab.state.callguard_log).read_text().splitlines()
        if '"ami.device_states"' in line
    ]
    assert loaded and loaded[-1]["count"] >= len(lab.state.phones)
    assert '"ami.device_list_failed"' not in Path(lab.state.callguard_log).read_text()


async def test_ami_user_gets_only_device_state_and_user_events(lab: Lab) -> None:
    """Asterisk filters the events for this user (eventfilter): a call's Newchannel, Hangup,
    VarSet... never reach callguard, a device state change does."""
    assert lab.state is not None
    loop = asyncio.get_running_loop()
    listening = loop.run_in_executor(None, lambda: _ami(lab, listen_s=3.0))
    await asyncio.sleep(1.0)
    lab.asterisk_rx("devstate change Custom:cg-hardening INUSE")
    lab.asterisk_rx("devstate change Custom:cg-hardening NOT_INUSE")
    events = {m["Event"] for m in await listening if "Event" in m}
    assert "DeviceStateChange" in events
    assert events <= {"DeviceStateChange", "UserEvent"}, events


async def test_broker_refuses_anonymous_clients(lab: Lab) -> None:
    assert lab.state is not None
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(lab.state.mqtt_host, lab.state.mqtt_port, timeout=5) as client:
            await client.subscribe("callguard/#")
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            lab.state.mqtt_host,
            lab.state.mqtt_port,
            username=lab.state.mqtt_user,
            password="wrong",
            timeout=5,
        ) as client:
            await client.subscribe("callguard/#")


async def test_desk_phones_are_not_allowed_sip_transfers(lab: Lab) -> None:
    """XFER-2 is callguard's *2 code: Asterisk refuses a REFER from a desk phone, which would
    otherwise move the call to any number outside the outbound rules."""
    shown = lab.asterisk_rx("pjsip show endpoint 2003")
    [line] = [ln for ln in shown.splitlines() if ln.strip().startswith("allow_transfer ")]
    assert line.split(":", 1)[1].strip() == "false"


def _log_entries(lab: Lab, call_id: str) -> list[dict[str, Any]]:
    return [entry for entry in callguard_log(lab) if entry.get("call_id") == call_id]


@contextmanager
def _masked_logs(lab: Lab) -> Iterator[None]:
    """callguard restarted with `[log] mask_numbers = true`; the lab's own config afterwards."""
    assert lab.state is not None
    original = lab.state.config_path
    masked = Path(original).with_name("callguard-masked.toml")
    text = Path(original).read_text()
    assert "\n[log]\n" in text
    masked.write_text(text.replace("\n[log]\n", "\n[log]\nmask_numbers = true\n"))
    lab.stop_controller()
    lab.state.config_path = str(masked)
    try:
        lab.start_controller()
        yield
    finally:
        lab.state.config_path = original
        lab.stop_controller()
        lab.start_controller()


async def _outside_call(harness: Harness, carrier: SippRun) -> dict[str, Any]:
    t0 = now()
    placed = len(carrier.dialed())
    call = await harness.dial("2003", "0" + OUTSIDE, talk_ms=300)
    assert await call.wait() == 0 and call.saw("ANSWERED")
    assert carrier.dialed()[placed:] == [OUTSIDE]
    return await harness.wait_record(t0, "0" + OUTSIDE)


async def test_outside_numbers_are_masked_on_mqtt_and_in_the_log_when_configured(
    harness: Harness, lab: Lab, mqtt: MqttWatch
) -> None:
    """SEC-2: MQTT masks outside numbers by default; the log keeps them unless `[log]
    mask_numbers`. The line's extension stays readable; the record keeps the real number."""
    carrier = await harness.carrier()  # one carrier for both calls: it keeps its port
    rec = await _outside_call(harness, carrier)
    assert rec["callee"]["number"] == OUTSIDE  # records are not masked: LOG-1
    await mqtt.wait_ended(rec["call_id"])
    payloads = [p for t, p in mqtt.messages if f"/calls/{rec['call_id']}/" in t]
    started = next(p for p in payloads if p["event"] == "call.started")
    assert started["dialed"] == "013*****8000"  # the access code and number, masked as one
    assert started["ext"] == "2003" and started["caller"] == "2003"
    ended = next(p for p in payloads if p["event"] == "call.ended")
    assert ended["ext"] == MASKED
    assert OUTSIDE not in json.dumps(payloads)
    # The log, by default, still has the number (operators' own file).
    assert OUTSIDE in json.dumps(_log_entries(lab, rec["call_id"]))
    await harness.wait_clean()

    with _masked_logs(lab):
        rec = await _outside_call(harness, carrier)
        await harness.wait_clean()
        entries = _log_entries(lab, rec["call_id"])
        assert [e for e in entries if e["event"] == "call.ended"]
        started = next(e for e in entries if e["event"] == "call.started")
        assert started["dialed"] == "013*****8000" and started["ext"] == "2003"
        assert OUTSIDE not in json.dumps(entries)
