"""`callguard bench-rings`: how exactly does ANS-1 keep its deadline? Outside calls to a phone
that never answers; the phone itself measures from the 180 it sends to the CANCEL it gets.
Prints figures; asserts nothing (they depend on the machine and its load)."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path
from typing import NamedTuple

from callguard.lab.lab import Lab, LabPorts, default_state_dir
from callguard.lab.phones import callee_scenario, caller_scenario, one_call_args, start_sipp

RINGS = 3
CALLEE, COVER = "1003", "8000"  # 1003 never answers; the admin hunt group (8000) does


def _config(cadence_s: float) -> str:
    # One caller calls again and again here: SEC-1 must not take it for a harasser.
    return f"""[inbound]
auto_block_calls = 1000000

[answering]
rings = {RINGS}
ring_cadence_s = {cadence_s}
greeting = "off"

[answering.office_hours]
days = [1, 2, 3, 4, 5, 6, 7]
start = "00:00"
end = "24:00"
"""


async def _one_call(lab: Lab, work: Path, n: int) -> float | None:
    """Seconds the silent phone rang (its 180 → the CANCEL it received), or None."""
    assert lab.state is not None
    silent = await start_sipp(
        work, f"{n}-silent", callee_scenario("no_answer"),
        ["-i", "127.0.0.1", "-p", str(lab.state.phones[CALLEE]), "-m", "1"],
    )  # fmt: skip
    cover = await start_sipp(
        work, f"{n}-cover", callee_scenario("answer", answer_after_ms=100),
        ["-i", "127.0.0.1", "-p", str(lab.state.phones[COVER]), "-m", "1"],
    )  # fmt: skip
    await asyncio.sleep(0.2)
    caller = await start_sipp(
        work, f"{n}-caller", caller_scenario(f"0109999{n:04d}", CALLEE, talk_ms=200),
        one_call_args(lab.state.sip_host, lab.state.sip_port, lab.state.pstn_address),
    )  # fmt: skip
    try:
        for run in (caller, silent, cover):
            await run.wait(60)
    except TimeoutError:
        return None
    finally:
        for run in (caller, silent, cover):
            await run.stop()
    ticks = dict((e, t) for t, e in reversed(silent.events()))
    if "INVITE_RECEIVED" not in ticks or "CANCELLED" not in ticks:
        return None
    return (ticks["CANCELLED"] - ticks["INVITE_RECEIVED"]) / 1000


async def _measure(calls: int, cadence_s: float, state_dir: Path, port_offset: int = 200) -> int:
    ports = LabPorts(offset=port_offset)
    lab = Lab(state_dir, ports, node="bench-rings", extra_config=_config(cadence_s))
    if lab.state is not None:
        lab.down()
    for leftover in ("calls.db", "calls.db-wal", "calls.db-shm", "journal.jsonl"):
        (state_dir / leftover).unlink(missing_ok=True)  # each run measures from a clean slate
    limit = RINGS * cadence_s
    print(
        f"ANS-1 deadline: {calls} outside calls, {RINGS} rings x {cadence_s:g} s = {limit:g} s each",
        flush=True,
    )
    lab.up(phones=False)
    work = state_dir / "bench-rings"
    work.mkdir(parents=True, exist_ok=True)
    errors_ms: list[float] = []
    try:
        for n in range(calls):
            rang = await _one_call(lab, work, n)
            if rang is not None:
                errors_ms.append((rang - limit) * 1000)
    finally:
        lab.down()
    if not errors_ms:
        print("no call could be measured")
        return 1
    errors_ms.sort()
    p95 = errors_ms[max(0, round(0.95 * len(errors_ms)) - 1)]
    print(f"measured {len(errors_ms)}/{calls}: rang longer than the limit by (ms, SIPp's 1 ms clock)")
    print(
        f"  min {errors_ms[0]:.0f}  median {statistics.median(errors_ms):.0f}  p95 {p95:.0f}  "
        f"max {errors_ms[-1]:.0f}"
    )
    return 0


class Hold(NamedTuple):
    """`--hold`: `calls` ringing at once, placed at `rate` a second, through callguard or
    (`plain`) through the dialplan alone."""

    calls: int
    rate: float
    max_calls_in_setup: int
    plain: bool


def run_bench_rings(
    calls: int,
    cadence_s: float,
    state_dir: Path | None = None,
    port_offset: int = 200,
    hold: Hold | None = None,
) -> int:
    """One call at a time (`calls` of them), or the calls of `hold` ringing at once."""
    directory = (state_dir or default_state_dir()).parent / "bench-rings"
    if hold is None:
        return asyncio.run(_measure(calls, cadence_s, directory, port_offset))
    from callguard.lab.bench_hold import HoldOptions, measure_hold

    options = HoldOptions(
        hold.calls, hold.rate, cadence_s, RINGS, directory, port_offset, hold.max_calls_in_setup, hold.plain
    )
    summary = asyncio.run(measure_hold(options, _config(cadence_s)))
    out = directory / "bench-rings.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"figures as JSON: {out}")
    return 0 if summary["measured"] else 1
