"""One bench path under load: SIPp callers through the plain dialplan `Dial()` or through callguard
to an answering SIPp phone, and what it cost (CPU, memory) and left behind (channels, bridges)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callguard.lab.bench_stats import PathResult
from callguard.lab.lab import Lab
from callguard.lab.metrics_page import read_metrics
from callguard.lab.phones import SippRun, callee_scenario, caller_scenario, free_udp_port, start_sipp

BENCH_USER = "benchplain"  # the lab endpoint whose calls take the plain Dial() context
CALLGUARD_USER = "1001"
PATHS = (("plain Dial()", BENCH_USER), ("callguard", CALLGUARD_USER))
CALLEE = "1002"
TALK_MS = 500
# With --media each caller sends recorded speech (the `~` key of the lab phones) before hanging up.
MEDIA_TALK_MS = 2000
SETTLE_S = 2.0  # after the last call, for every BYE and hang-up to settle before counting leftovers


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process now, in MiB (NaN if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


def _rtts(work: Path) -> list[float]:
    out: list[float] = []
    for f in work.glob("*_rtt.csv"):
        for line in f.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    out.append(float(parts[1]))
                except ValueError:
                    continue
    return out


def _caller_args(lab: Lab, rate: float, count: int) -> list[str]:
    """SIPp places `count` calls at `rate` a second from a free port, each call's PDD traced."""
    assert lab.state is not None
    return [
        f"{lab.state.sip_host}:{lab.state.sip_port}",
        "-i", "127.0.0.1",
        "-p", str(free_udp_port()),
        "-r", str(rate),
        "-m", str(count),
        "-l", str(max(50, int(rate * 4))),
        "-trace_rtt",
        "-rtt_freq", "1",
        "-timeout", str(int(count / rate) + 60) + "s",
    ]  # fmt: skip


def _caller_xml(from_user: str, media: bool) -> str:
    if media:
        return caller_scenario(from_user, CALLEE, talk_ms=MEDIA_TALK_MS - 1500, dtmf=((0, "~"),))
    return caller_scenario(from_user, CALLEE, talk_ms=TALK_MS)


@dataclass(frozen=True)
class _Cpu:
    """CPU seconds used so far by Asterisk and by callguard."""

    asterisk: float
    controller: float

    @classmethod
    def now(cls, lab: Lab) -> _Cpu:
        assert lab.state is not None
        pids = lab.state.pids
        return cls(cpu_seconds(pids.get("asterisk")), cpu_seconds(pids.get("callguard")))


# Runs beside the load (a sampler, a profiler) and stops when it is cancelled.
Beside = Callable[[], Coroutine[Any, Any, None]]


async def run_path(
    lab: Lab,
    path: tuple[str, str],
    rate: float,
    count: int,
    work: Path,
    media: bool = False,
    beside: Beside | None = None,
) -> PathResult:
    """`count` calls at `rate` from `path`'s endpoint (name, SIP user) to an answering phone."""
    assert lab.state is not None
    name, from_user = path
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    callee_args = ["-i", "127.0.0.1", "-p", str(lab.state.phones[CALLEE])]
    callee = await start_sipp(work, "callee", callee_scenario("answer", answer_after_ms=0), callee_args)
    await asyncio.sleep(0.3)
    side = asyncio.create_task(beside()) if beside else None
    rss_start = rss_mb(lab.state.pids.get("asterisk"))
    try:
        work0 = _work(lab)
        cpu0, t0 = _Cpu.now(lab), time.monotonic()
        caller = await start_sipp(
            work, "caller", _caller_xml(from_user, media), _caller_args(lab, rate, count)
        )
        try:
            await caller.wait(count / rate + 60)
        except TimeoutError:
            print(f"  {name}: calls still up after {count / rate + 60:.0f} s were abandoned", flush=True)
        wall = time.monotonic() - t0
        await asyncio.sleep(SETTLE_S)
        cpu1 = _Cpu.now(lab)
    finally:
        await callee.stop()
        if side is not None:
            side.cancel()
            await asyncio.gather(side, return_exceptions=True)
    result = _result(lab, name, caller, (count, rate), work, (cpu0, cpu1), wall)
    result.asterisk_rss_start_mb = rss_start
    result.work = _work_done(work0, _work(lab))
    return result


# The controller's own count of the work it did and still owes: a path whose CPU looks cheap
# because its events or records never went out must show it (issue 12).
DONE = ("callguard_mqtt_published_events_total", "callguard_records_written_total")
OWED = ("callguard_mqtt_outbox_depth", "callguard_memory_backlog", "callguard_journal_backlog")


def _work(lab: Lab) -> dict[str, float] | None:
    assert lab.state is not None
    return read_metrics(lab.state.metrics_url, DONE + OWED)


def _work_done(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, int] | None:
    """MQTT events published and records written during the path, what waits after its settle;
    None when the controller's metrics did not answer."""
    if before is None or after is None:
        return None
    published, written = (int(after.get(n, 0) - before.get(n, 0)) for n in DONE)
    return {
        "mqtt_published": published,
        "records_written": written,
        "owed": int(sum(after.get(n, 0) for n in OWED)),
    }


def _result(
    lab: Lab,
    name: str,
    caller: SippRun,
    load: tuple[int, float],
    work: Path,
    cpu: tuple[_Cpu, _Cpu],
    wall: float,
) -> PathResult:
    assert lab.state is not None
    count, rate = load
    events = [e for _, e in caller.events()]
    # Completed = the caller's phone was answered (SIPp counts a refused call as "successful").
    completed = events.count("ANSWERED")
    shed = events.count("FINAL 503")
    per_call = 1000.0 / max(count, 1)
    before, after = cpu
    return PathResult(
        name=name,
        completed=completed,
        failed=max(0, count - completed - shed),
        pdd_ms=_rtts(work),
        asterisk_cpu_ms=(after.asterisk - before.asterisk) * per_call,
        controller_cpu_ms=(after.controller - before.controller) * per_call,
        channels_left=len(lab.ari_get("/channels") or []),
        bridges_left=len(lab.bridges_left() or []),
        wall_s=wall,
        asterisk_rss_mb=rss_mb(lab.state.pids.get("asterisk")),
        controller_rss_mb=rss_mb(lab.state.pids.get("callguard")),
        shed=shed,
        rate=rate,
    )
