"""`callguard lab demo`: start the lab, place real calls between simulated desk phones, and show
what each phone experienced, what callguard recorded, and where to look next."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.lab.console import add_lab_accounts, print_console
from callguard.lab.demo_calls import (
    BLOCKED_CALLER,
    CALLS,
    CARRIER,
    DEMO_ANSWERING,
    DEMO_BUDGETS,
    DEMO_INBOUND,
    DEMO_LOCAL_LIMIT_S,
    DEMO_NO_ANSWER_TIMEOUT_S,
    DEMO_WARN_BEFORE_S,
    EXPECTED,
    DemoCall,
)
from callguard.lab.demo_report import Outcome, month_summary, print_outcome
from callguard.lab.lab import Lab, LabPorts, default_state_dir
from callguard.lab.phones import (
    SippRun,
    callee_scenario,
    caller_scenario,
    one_call_args,
    start_sipp,
    write_dtmf_files,
)
from callguard.policy import BlockEntry
from callguard.records import IN_PROGRESS
from callguard.store import add_block, list_calls, list_messages, list_violations, make_engine, migrate


def _what_phone_saw(run: SippRun | None) -> str:
    if run is None:
        return "did not ring"
    events = [e for _, e in run.events()]
    return ", ".join(events) or "nothing"


async def _ring(work: Path, name: str, port: int, behaviour: str, kw: dict[str, Any]) -> SippRun:
    """A phone (or the carrier) that takes one call."""
    xml = callee_scenario(behaviour, **kw)
    return await start_sipp(work, name, xml, ["-i", "127.0.0.1", "-p", str(port), "-m", "1"])


async def _far_end(lab: Lab, work: Path, n: int, call: DemoCall) -> SippRun | None:
    """The dialled phone, or the carrier behind the trunk; None when nobody should ring."""
    assert lab.state is not None
    if call.phone is None:
        return None
    if call.phone == CARRIER:
        carrier = lab.state.carrier_port
        phone = await _ring(work, f"{n}-carrier", carrier, "answer", {"answer_after_ms": 500})
    else:
        port = lab.state.phones[call.dialed]
        phone = await _ring(work, f"{n}-phone-{call.dialed}", port, call.phone, call.phone_kw)
    await asyncio.sleep(0.2)
    return phone


async def _wait_quietly(run: SippRun, timeout: float) -> None:
    try:
        await run.wait(timeout)
    except TimeoutError:
        pass


async def _place(lab: Lab, work: Path, n: int, call: DemoCall) -> tuple[str, str, list[str]]:
    assert lab.state is not None
    phone = await _far_end(lab, work, n, call)
    others = [
        await _ring(work, f"{n}-phone-{ext}", lab.state.phones[ext], behaviour, kw)
        for ext, behaviour, kw in call.others
    ]
    write_dtmf_files(work, call.caller_kw.get("dtmf", ()))
    local_ip = lab.state.pstn_address if call.outside else "127.0.0.1"
    caller = await start_sipp(
        work,
        f"{n}-call-{call.caller}",
        caller_scenario(call.caller, call.dialed, **call.caller_kw),
        one_call_args(lab.state.sip_host, lab.state.sip_port, local_ip),
    )
    await caller.wait(90)
    seen_by_others = []
    for (ext, _, _), other in zip(call.others, others, strict=True):
        await _wait_quietly(other, 5)
        seen_by_others.append(f"{ext}'s phone: {_what_phone_saw(other)}")
    if phone is not None:
        await _wait_quietly(phone, 2 if call.phone == CARRIER else 5)
    caller_saw = ", ".join(e for _, e in caller.events()) or "nothing"
    if call.phone == CARRIER and phone is not None and not phone.dialed():
        return caller_saw, "no call reached the trunk", seen_by_others
    return caller_saw, _what_phone_saw(phone), seen_by_others


def _demo_lab(state_dir: Path) -> Lab:
    return Lab(
        state_dir,
        LabPorts(),
        calls={"no_answer_timeout_s": DEMO_NO_ANSWER_TIMEOUT_S},
        node="demo",
        outbound_config=(
            # The demo types three wrong codes on 1003 each run (OUT-3); a short lockout window
            # keeps one run's guesses from locking the line for the next run.
            "pin_lockout_window_min = 1\n"
            "\n[outbound.durations.local]\n"
            f"limit_s = {DEMO_LOCAL_LIMIT_S}\nwarn_before_s = {DEMO_WARN_BEFORE_S}\n"
        ),
        extra_config=DEMO_INBOUND + DEMO_ANSWERING,
        budgets_config=DEMO_BUDGETS,
    )


async def _place_calls(lab: Lab, work: Path) -> None:
    for n, call in enumerate(CALLS, 1):
        print(f"\n[{n}] {call.caller} dials {call.dialed}: {call.title}", flush=True)
        caller_saw, phone_saw, others_saw = await _place(lab, work, n, call)
        print(f"    caller's phone: {caller_saw}")
        if call.phone is not None:
            far_end = "the carrier" if call.phone == CARRIER else f"{call.dialed}'s phone"
            print(f"    {far_end}: {phone_saw}")
        for line in others_saw:
            print(f"    {line}")


async def _outcome(engine: AsyncEngine, config_path: str, started: datetime) -> Outcome:
    # The writer may still be turning the last provisional records into final ones.
    for _ in range(50):
        records = list(reversed(await list_calls(engine, limit=len(CALLS))))
        if all(r["disposition"] != IN_PROGRESS for r in records):
            break
        await asyncio.sleep(0.1)
    demo_calls = {r["call_id"] for r in records}
    violations = [v for v in reversed(await list_violations(engine)) if v["call_id"] in demo_calls]
    messages = [m for m in await list_messages(engine) if m["call_id"] in demo_calls]
    return Outcome(records, violations, messages, await month_summary(engine, config_path, started))


async def _run_calls(lab: Lab, work: Path, started: datetime) -> Outcome:
    """Place every demo call and read back what callguard recorded of them."""
    assert lab.state is not None
    engine = make_engine(lab.state.database_url)
    try:
        await migrate(engine)
        # As an operator would: `callguard block add 13800138000 --reason ... --by ma.lin`.
        await add_block(engine, BlockEntry(BLOCKED_CALLER, False, "harassing calls", "ma.lin"))
        await _place_calls(lab, work)
        return await _outcome(engine, lab.state.config_path, started)
    finally:
        await engine.dispose()


async def run_demo(state_dir: Path | None = None) -> int:
    state_dir = state_dir or default_state_dir()
    lab = _demo_lab(state_dir)
    if lab.state is not None:
        lab.down()  # a lab left from an earlier run
    print("starting the lab: Asterisk, mosquitto, callguard and its console on 127.0.0.1 ...", flush=True)
    state = lab.up(phones=False, console=True)
    started = datetime.now(UTC)
    work = state_dir / "demo"
    work.mkdir(exist_ok=True)
    try:
        outcome = await _run_calls(lab, work, started)
        accounts = add_lab_accounts(state.config_path)
    except BaseException:
        lab.down()  # the lab stays up only for a demo that ran to the end, to browse the console
        raise
    cli = Path(sys.argv[0]) if Path(sys.argv[0]).name == "callguard" else Path("callguard")
    print_outcome(state, outcome, cli)
    print_console(state.web_url, accounts)
    got = [r["disposition"] for r in outcome.records]
    if got != EXPECTED:
        print(f"\nunexpected outcomes: {got} (expected {EXPECTED})")
        return 1
    return 0
