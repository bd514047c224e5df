"""Drives the lab like people do: SIPp phones place and answer calls; assertions read what
the phones saw, what Asterisk still holds, the database rows and the MQTT messages."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from callguard.lab import Lab
from callguard.lab.phones import (
    SippRun,
    callee_scenario,
    caller_scenario,
    one_call_args,
    start_sipp,
    write_dtmf_files,
)
from callguard.store import list_calls, list_violations, make_engine


class Harness:
    def __init__(self, lab: Lab, work: Path) -> None:
        assert lab.state is not None
        self.lab = lab
        self.state = lab.state
        self.work = work
        self._n = 0
        self._runs: list[SippRun] = []

    async def _start(self, work: Path, name: str, scenario: str, args: list[str]) -> SippRun:
        run = await start_sipp(work, name, scenario, args)
        self._runs.append(run)
        return run

    async def close(self) -> None:
        """A failed test must not leave a SIPp phone behind."""
        for run in self._runs:
            await run.stop()

    def _name(self, role: str) -> str:
        self._n += 1
        return f"{self._n:03d}-{role}"

    async def phone(self, ext: str, behaviour: str, **kw: Any) -> SippRun:
        """Be the desk phone `ext` for one call: answer / no_answer / busy / decline."""
        write_dtmf_files(self.work, kw.get("dtmf", ()))
        run = await self._start(
            self.work,
            self._name(f"phone-{ext}-{behaviour}"),
            callee_scenario(behaviour, **kw),
            ["-i", "127.0.0.1", "-p", str(self.state.phones[ext]), "-m", "1"],
        )
        await asyncio.sleep(0.2)  # let SIPp bind its port before Asterisk sends the INVITE
        return run

    async def dial(self, caller: str, dialed: str, **kw: Any) -> SippRun:
        """The desk phone `caller` dials `dialed` (see caller_scenario for talk/cancel/DTMF options)."""
        write_dtmf_files(self.work, kw.get("dtmf", ()))
        return await self._start(
            self.work,
            self._name(f"call-{caller}-{dialed[:20]}"),
            caller_scenario(caller, dialed, **kw),
            one_call_args(self.state.sip_host, self.state.sip_port),
        )

    async def outside_call(self, caller: str, did: str, **kw: Any) -> SippRun:
        """Someone outside calls number `did` through the PSTN trunk (SIP from the lab's PSTN address)."""
        write_dtmf_files(self.work, kw.get("dtmf", ()))
        return await self._start(
            self.work,
            self._name(f"pstn-{did}"),
            caller_scenario(caller, did, **kw),
            one_call_args(self.state.sip_host, self.state.sip_port, self.state.pstn_address),
        )

    async def carrier(self, behaviour: str = "answer", **kw: Any) -> SippRun:
        """Be the PSTN carrier behind the trunk: every outside call that leaves the PBX arrives
        here, and `dialed()` lists the numbers that did."""
        kw.setdefault("answer_after_ms", 300)
        write_dtmf_files(self.work, kw.get("dtmf", ()))
        run = await self._start(
            self.work,
            self._name(f"carrier-{behaviour}"),
            callee_scenario(behaviour, **kw),
            ["-i", "127.0.0.1", "-p", str(self.state.carrier_port)],
        )
        await asyncio.sleep(0.2)
        return run

    async def violations(self, call_id: str) -> list[dict[str, Any]]:
        engine = make_engine(self.state.database_url)
        try:
            return [v for v in await list_violations(engine) if v["call_id"] == call_id]
        finally:
            await engine.dispose()

    async def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        engine = make_engine(self.state.database_url)
        try:
            return await list_calls(engine, since=since)
        finally:
            await engine.dispose()

    async def wait_record(
        self, since: datetime, dialed: str, timeout: float = 15.0, disposition: str | None = None
    ) -> dict[str, Any]:
        """The call's record once final (not the provisional `in_progress` one), or once it has
        `disposition`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in await self.records(since):
                done = (
                    rec["disposition"] == disposition if disposition else rec["disposition"] != "in_progress"
                )
                if rec["dialed"] == dialed and done:
                    return rec
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"no {disposition or 'final'} call record for {dialed} since {since} within {timeout} s"
        )

    async def wait_clean(self, timeout: float = 10.0) -> None:
        """Every call must leave Asterisk as it found it: no channel, no bridge (callguard's empty
        dial bridges stay for the next ringing legs)."""
        deadline = time.monotonic() + timeout
        channels: Any = None
        bridges: Any = None
        while time.monotonic() < deadline:
            channels = self.lab.ari_get("/channels")
            bridges = self.lab.bridges_left()
            if channels == [] and bridges == []:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"left behind: channels={channels} bridges={bridges}")

    def callguard_log_events(self, call_id: str) -> list[str]:
        return [entry["event"] for entry in callguard_log(self.lab) if entry.get("call_id") == call_id]


def callguard_log(lab: Lab) -> list[dict[str, Any]]:
    """Every JSON line callguard has logged in the lab so far."""
    assert lab.state is not None
    out = []
    for line in Path(lab.state.callguard_log).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class AriWatch:
    """An independent witness on Asterisk: a second ARI application subscribed to everything,
    so tests see the prompts Asterisk really played (PlaybackStarted/Finished) and the digits
    it really received, not what callguard says it did."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def playbacks(self, channel_id: str | None = None, kind: str = "PlaybackFinished") -> list[str]:
        """Media URIs played to `channel_id` (or anyone), in order, that reached `kind`. A finished
        playback counts only if it was not cut off: Asterisk finishes one as "failed" when its
        channel hangs up during it (or the file is missing), and that prompt was not heard."""
        out = []
        for e in self.events:
            pb = e.get("playback") or {}
            if (
                e.get("type") == kind
                and (channel_id is None or pb.get("target_uri") == f"channel:{channel_id}")
                and not (kind == "PlaybackFinished" and pb.get("state") == "failed")
            ):
                out.append(str(pb.get("media_uri", "")))
        return out

    def prompts(self, channel_id: str) -> list[str]:
        """callguard prompt names played to the end on `channel_id`."""
        return [
            m.removeprefix("sound:callguard/")
            for m in self.playbacks(channel_id)
            if m.startswith("sound:callguard/")
        ]

    def dtmf(self, channel_id: str) -> str:
        return "".join(
            str(e.get("digit"))
            for e in self.events
            if e.get("type") == "ChannelDtmfReceived" and (e.get("channel") or {}).get("id") == channel_id
        )


async def watch_ari(url: str, user: str, password: str, watch: AriWatch, ready: asyncio.Event) -> None:
    ws_url = url.replace("http", "ws", 1) + "/ari/events"
    headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    while True:
        try:
            async with (
                aiohttp.ClientSession(headers=headers) as session,
                session.ws_connect(ws_url, params={"app": "cg-test-witness", "subscribeAll": "true"}) as ws,
            ):
                ready.set()
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        watch.events.append(json.loads(msg.data))
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.3)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class MqttWatch:
    """Collects every message under the lab node's topic tree."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def topics_for(self, call_id: str) -> list[str]:
        return [t.rsplit("/", 1)[1] for t, _ in self.messages if f"/calls/{call_id}/" in t]

    async def wait_ended(self, call_id: str, timeout: float = 10.0) -> list[str]:
        """The call's event topics once its `ended` event has arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while "ended" not in self.topics_for(call_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self.topics_for(call_id)


# What an answered internal call publishes, in order.
ANSWERED_CALL_TOPICS = ["started", "decision", "dialing", "ringing", "answered", "ended"]


async def watch_mqtt(
    host: str,
    port: int,
    pattern: str,
    watch: MqttWatch,
    ready: asyncio.Event,
    auth: tuple[str, str] = ("", ""),
) -> None:
    """A durable subscriber: the broker keeps its QoS 1 messages while it is away. `auth` is
    the (user, password) the lab's broker requires: it admits no anonymous client."""
    identifier = f"test-{time.monotonic_ns()}"
    user, password = auth
    while True:
        try:
            async with aiomqtt.Client(
                host,
                port,
                identifier=identifier,
                clean_session=False,
                username=user or None,
                password=password or None,
            ) as client:
                await client.subscribe(pattern, qos=1)
                ready.set()
                async for msg in client.messages:
                    payload = msg.payload if isinstance(msg.payload, bytes) else b"{}"
                    try:
                        data = json.loads(payload)
                    except ValueError:
                        data = {"raw": payload.decode(errors="replace")}
                    watch.messages.append((str(msg.topic), data if isinstance(data, dict) else {}))
        except aiomqtt.MqttError:
            await asyncio.sleep(0.3)
