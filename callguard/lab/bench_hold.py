"""`callguard bench-rings --hold N`: N outside calls ringing the same silent phone at once, every
one left to run out its ANS-1 limit. The phone measures each deadline itself, from the 180 it
sends (at the INVITE) to the CANCEL it receives; the figures are its lateness p50/p99/max.

N = 1000 needs a few thousand sockets in Asterisk: the bench raises RLIMIT_NOFILE to the hard
limit first (`ulimit -Hn` must allow it), and the calls are placed at `--rate` a second, so the
limit (rings x cadence) must be longer than N / rate for all of them to ring at once.

`--plain` is the baseline: the same calls through the plain dialplan, whose Dial() timeout keeps
the limit without callguard (extensions_bench.conf), so what Asterisk alone manages is known."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callguard.lab.bench import raise_open_files_limit
from callguard.lab.bench_paths import BENCH_USER
from callguard.lab.bench_stats import pct
from callguard.lab.lab import Lab, LabPorts
from callguard.lab.phones import SippRun, callee_scenario, caller_scenario, free_udp_port, start_sipp

CALLEE, COVER = "1003", "8000"  # 1003 never answers; the admin hunt group's 8000 does


@dataclass(frozen=True)
class HoldOptions:
    calls: int
    rate: float
    cadence_s: float
    rings: int
    state_dir: Path
    port_offset: int
    max_calls_in_setup: int = 20
    plain: bool = False  # the plain dialplan's Dial() timeout instead of callguard's ANS-1

    @property
    def limit_s(self) -> float:
        return self.rings * self.cadence_s


def numbered(scenario: str) -> str:
    """The scenario with SIPp's call number on each logged line, to tell N calls apart."""
    return scenario.replace("[clock_tick] ", "[clock_tick] [call_number] ")


def ring_spans(log_lines: list[str]) -> list[tuple[int, int]]:
    """(INVITE received ms, CANCEL received ms) of each call that was cancelled, from a numbered
    callee log ("tick call event" per line)."""
    invited: dict[str, int] = {}
    spans: list[tuple[int, int]] = []
    for line in log_lines:
        parts = line.split()
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        tick, call, event = int(parts[0]), parts[1], parts[2]
        if event == "INVITE_RECEIVED":
            invited[call] = tick
        elif event == "CANCELLED" and call in invited:
            spans.append((invited.pop(call), tick))
    return spans


def most_at_once(spans: list[tuple[int, int]]) -> int:
    """The largest number of calls ringing at the same time."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    ringing = peak = 0
    for _, step in edges:
        ringing += step
        peak = max(peak, ringing)
    return peak


def lateness_summary(spans: list[tuple[int, int]], limit_s: float, calls: int) -> dict[str, Any]:
    """How much longer than the limit each phone rang (ms, SIPp's 1 ms clock)."""
    late = [(end - start) - limit_s * 1000 for start, end in spans]
    return {
        "calls": calls,
        "measured": len(late),
        "limit_s": limit_s,
        "most_ringing_at_once": most_at_once(spans),
        "lateness_ms": {
            "min": min(late, default=None),
            "p50": pct(late, 0.5) if late else None,
            "p99": pct(late, 0.99) if late else None,
            "max": max(late, default=None),
        },
    }


def _callers_csv(work: Path, calls: int) -> Path:
    """A distinct outside number per call (SIPp's -inf), as real callers would have."""
    path = work / "callers.csv"
    path.write_text("SEQUENTIAL\n" + "".join(f"0109{n:07d};\n" for n in range(calls)))
    return path


async def _phones(lab: Lab, work: Path, calls: int) -> tuple[SippRun, SippRun]:
    assert lab.state is not None
    phones = lab.state.phones
    silent = await start_sipp(
        work, "silent", numbered(callee_scenario("no_answer")),
        ["-i", "127.0.0.1", "-p", str(phones[CALLEE]), "-m", str(calls)],
    )  # fmt: skip
    cover = await start_sipp(
        work, "cover", callee_scenario("answer", answer_after_ms=100),
        ["-i", "127.0.0.1", "-p", str(phones[COVER]), "-m", str(calls)],
    )  # fmt: skip
    return silent, cover


def open_files(pid: int | None) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def _watch_open_files(pid: int | None, peak: list[int]) -> None:
    """Asterisk's most open files during the hold (about 9 a ringing call: SIP, RTP, RTCP, timers)."""
    while True:
        peak[0] = max(peak[0], open_files(pid))
        await asyncio.sleep(0.5)


async def _hold(
    lab: Lab, options: HoldOptions, work: Path, peak: list[int]
) -> tuple[list[tuple[int, int]], SippRun]:
    assert lab.state is not None
    watch = asyncio.create_task(_watch_open_files(lab.state.pids.get("asterisk"), peak))
    silent, cover = await _phones(lab, work, options.calls)
    await asyncio.sleep(0.3)
    timeout = options.calls / options.rate + options.limit_s + 60
    placing = ["-r", str(options.rate), "-m", str(options.calls), "-l", str(options.calls)]
    placing += ["-timeout", f"{int(timeout)}s"]
    pbx = f"{lab.state.sip_host}:{lab.state.sip_port}"
    if options.plain:  # the bench user's calls take the plain dialplan (extensions_bench.conf)
        address, caller_number, dialled = "127.0.0.1", BENCH_USER, f"hold-{options.limit_s:g}-{CALLEE}"
    else:  # outside callers, each with its own number
        address, caller_number, dialled = lab.state.pstn_address, "[field0]", CALLEE
        placing += ["-inf", str(_callers_csv(work, options.calls))]
    caller_args = [pbx, "-i", address, "-p", str(free_udp_port(address)), *placing]
    scenario = caller_scenario(caller_number, dialled, talk_ms=200)
    caller = await start_sipp(work, "caller", scenario, caller_args)
    try:
        await caller.wait(timeout + 5)
    except TimeoutError:
        print("  calls still up at the end were abandoned", flush=True)
    finally:
        watch.cancel()
        for run in (caller, silent, cover):
            await run.stop()
    lines = silent.log_file.read_text(errors="replace").splitlines() if silent.log_file.exists() else []
    return ring_spans(lines), caller


def _print(summary: dict[str, Any]) -> None:
    late = summary["lateness_ms"]
    print(
        f"measured {summary['measured']}/{summary['calls']} (at most {summary['most_ringing_at_once']} "
        f"ringing at once): rang longer than the {summary['limit_s']:g} s limit by (ms, SIPp's 1 ms clock)"
    )
    print("  " + "  ".join(f"{k} {'-' if v is None else f'{v:.0f}'}" for k, v in late.items()))
    print(
        f"  callers: {summary['answered']} answered by the cover phone, {summary['got_503']} got a 503 "
        "(shed, or nobody could be rung)"
    )
    print(
        f"  Asterisk's open files at most {summary['asterisk_open_files_peak']} "
        f"(limit {summary['open_files_limit']})"
    )


async def measure_hold(options: HoldOptions, extra_config: str) -> dict[str, Any]:
    nofile = raise_open_files_limit()
    ports = LabPorts(offset=options.port_offset)
    calls = {"max_calls_in_setup": options.max_calls_in_setup}
    lab = Lab(options.state_dir, ports, calls=calls, node="bench-rings", extra_config=extra_config)
    if lab.state is not None:
        lab.down()
    if options.calls / options.rate >= options.limit_s:
        print(
            f"note: placing {options.calls} calls takes {options.calls / options.rate:g} s, "
            "longer than the limit: not all of them will ring at once"
        )
    path = "the plain dialplan's Dial() timeout" if options.plain else "callguard's ANS-1"
    print(
        f"{path}, {options.calls} calls held ringing: {options.rings} rings x "
        f"{options.cadence_s:g} s = {options.limit_s:g} s each, placed at {options.rate:g}/s; "
        f"open files limit {nofile}",
        flush=True,
    )
    lab.up(phones=False)
    try:
        peak = [0]
        spans, caller = await _hold(lab, options, options.state_dir / "hold", peak)
    finally:
        lab.down()
    events = [e for _, e in caller.events()]
    summary: dict[str, Any] = {"path": "plain" if options.plain else "callguard"}
    summary |= lateness_summary(spans, options.limit_s, options.calls)
    summary |= {"answered": events.count("ANSWERED"), "got_503": events.count("FINAL 503")}
    summary |= {"asterisk_open_files_peak": peak[0], "open_files_limit": nofile}
    _print(summary)
    return summary
