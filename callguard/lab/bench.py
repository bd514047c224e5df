"""`callguard bench`: the same SIPp load through a plain dialplan Dial() and through callguard,
in one run, with figures printed side by side (never asserted: this machine's numbers vary)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from callguard.lab.lab import Lab, LabPorts, default_state_dir
from callguard.lab.phones import (
    SippRun,
    callee_scenario,
    caller_scenario,
    free_udp_port,
    require_sipp,
    start_sipp,
)

BENCH_USER = "benchplain"  # the lab endpoint whose calls take the plain Dial() context
CALLEE = "1002"
TALK_MS = 500


def _cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class PathResult:
    name: str
    completed: int
    failed: int
    pdd_ms: list[float]
    asterisk_cpu_ms: float
    controller_cpu_ms: float
    channels_left: int
    bridges_left: int
    wall_s: float
    asterisk_rss_mb: float
    controller_rss_mb: float


def _rss_mb(pid: int | None) -> float:
    """Resident memory of a process after the run, in MiB."""
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


# With --media each caller sends recorded speech (the `~` key of the lab phones) before hanging up.
MEDIA_TALK_MS = 2000


def _caller_args(lab: Lab, rate: float, count: int) -> list[str]:
    """SIPp places `count` calls at `rate` a second from a free port, each call's PDD traced."""
    assert lab.state is not None
    return [
        f"{lab.state.sip_host}:{lab.state.sip_port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-r",
        str(rate),
        "-m",
        str(count),
        "-l",
        str(max(50, int(rate * 4))),
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-timeout",
        str(int(count / rate) + 60) + "s",
    ]


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
        return cls(_cpu_seconds(pids.get("asterisk")), _cpu_seconds(pids.get("callguard")))


async def _run_path(
    lab: Lab, name: str, from_user: str, rate: float, count: int, work: Path, media: bool = False
) -> PathResult:
    assert lab.state is not None
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    callee = await start_sipp(
        work,
        "callee",
        callee_scenario("answer", answer_after_ms=0),
        ["-i", "127.0.0.1", "-p", str(lab.state.phones[CALLEE])],
    )
    await asyncio.sleep(0.3)
    try:
        cpu0 = _Cpu.now(lab)
        t0 = time.monotonic()
        caller = await start_sipp(
            work, "caller", _caller_xml(from_user, media), _caller_args(lab, rate, count)
        )
        try:
            await caller.wait(count / rate + 60)
        except TimeoutError:
            print(f"  {name}: calls still up after {count / rate + 60:.0f} s were abandoned", flush=True)
        wall = time.monotonic() - t0
        await asyncio.sleep(2.0)  # let every BYE and hang-up settle before counting leftovers
    finally:
        await callee.stop()
    return _result(lab, name, caller, count, work, (cpu0, _Cpu.now(lab)), wall)


def _result(
    lab: Lab, name: str, caller: SippRun, count: int, work: Path, cpu: tuple[_Cpu, _Cpu], wall: float
) -> PathResult:
    assert lab.state is not None
    # Completed = the caller's phone was answered (SIPp counts a refused call as "successful").
    completed = sum(1 for _, e in caller.events() if e == "ANSWERED")
    per_call = 1000.0 / max(count, 1)
    before, after = cpu
    return PathResult(
        name,
        completed,
        count - completed,
        _rtts(work),
        (after.asterisk - before.asterisk) * per_call,
        (after.controller - before.controller) * per_call,
        len(lab.ari_get("/channels") or []),
        len(lab.ari_get("/bridges") or []),
        wall,
        _rss_mb(lab.state.pids.get("asterisk")),
        _rss_mb(lab.state.pids.get("callguard")),
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_bench(
    rate: float, count: int, max_calls_in_setup: int, state_dir: Path | None = None, media: bool = False
) -> int:
    require_sipp()
    state_dir = state_dir or default_state_dir().with_name("bench")
    lab = Lab(
        state_dir,
        LabPorts(offset=200),
        calls={"no_answer_timeout_s": 10, "max_calls_in_setup": max_calls_in_setup},
        node="bench",
    )
    if lab.state is not None:
        lab.down()
    print(
        f"callguard bench: {count} calls per path at {rate:g} calls/s, "
        f"{MEDIA_TALK_MS if media else TALK_MS} ms talk each{' with speech' if media else ''}; "
        f"max_calls_in_setup {max_calls_in_setup}; lab on ports +200 in {state_dir}",
        flush=True,
    )
    lab.up(phones=False)
    results: list[PathResult] = []
    try:
        for name, user in (("plain Dial()", BENCH_USER), ("callguard", "1001")):
            print(f"running {name} ...", flush=True)
            work = state_dir / "bench" / user
            results.append(asyncio.run(_run_path(lab, name, user, rate, count, work, media)))
    finally:
        lab.down()
    _print_results(results)
    return 0


def _print_results(results: list[PathResult]) -> None:
    print()
    print(
        f"{'path':<14}{'completed':>10}{'failed':>8}{'PDD p50 ms':>12}{'PDD p99 ms':>12}"
        f"{'Asterisk CPU ms/call':>22}{'callguard CPU ms/call':>23}{'channels left':>15}"
        f"{'bridges left':>14}{'wall s':>8}{'Asterisk RSS MiB':>18}{'callguard RSS MiB':>19}"
    )
    for r in results:
        print(
            f"{r.name:<14}{r.completed:>10}{r.failed:>8}{_pct(r.pdd_ms, 0.5):>12.1f}"
            f"{_pct(r.pdd_ms, 0.99):>12.1f}{r.asterisk_cpu_ms:>22.2f}{r.controller_cpu_ms:>23.2f}"
            f"{r.channels_left:>15}{r.bridges_left:>14}{r.wall_s:>8.1f}"
            f"{r.asterisk_rss_mb:>18.0f}{r.controller_rss_mb:>19.0f}"
        )
    print("\nPDD = post-dial delay, INVITE sent to 180 Ringing received, per call (SIPp rtd).")
