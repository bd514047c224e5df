"""`callguard lab demo`: start the lab, place real calls between simulated desk phones, and show
what each phone experienced, what callguard recorded, and where to look next."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.lab.console import add_lab_accounts, print_console
from callguard.lab.lab import LAB_PINS, Lab, LabPorts, default_state_dir
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
from callguard.reports.bills import Bill
from callguard.store import add_block, list_calls, list_messages, list_violations, make_engine, migrate
from callguard.store.text import call_line, violation_line

DEMO_NO_ANSWER_TIMEOUT_S = 6
# OUT-4 for local calls, shortened so that the demo shows the warning within seconds.
DEMO_LOCAL_LIMIT_S = 10
DEMO_WARN_BEFORE_S = 4
CARRIER = "carrier"  # the dialled "phone" is the PSTN carrier behind the trunk
DIRECTOR_PIN = LAB_PINS["wang.li"]  # the lab sets it; nothing shipped contains a PIN


@dataclass(frozen=True)
class DemoCall:
    title: str
    caller: str
    dialed: str
    phone: str | None  # behaviour of the dialled phone, None if nobody should ring
    phone_kw: dict[str, Any]
    caller_kw: dict[str, Any]
    outside: bool = False  # the caller is outside, on the PSTN trunk
    others: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # more phones: (ext, behaviour, kw)


# The demo lab rings at 1 s a ring (China's is 5 s: ANS-1's three rings are 15 s) and its
# office is always open, so that the rollover, assistant and message calls show in seconds
# whenever it runs.
DEMO_RING_CADENCE_S = 1.0
DEMO_ANSWERING = f"""[answering]
ring_cadence_s = {DEMO_RING_CADENCE_S}
offline_after_s = 2.0

[answering.office_hours]
days = [1, 2, 3, 4, 5, 6, 7]
start = "00:00"
end = "24:00"
"""
# LOG-4: admin's monthly budget is set so small that the demo's one priced admin call (the
# national call 王丽 authorises, 0.07 元 a 6 s block) crosses 80 %: the demo ends with that alert.
DEMO_BUDGETS = """[budgets]
refresh_s = 0.5

[[budgets.department]]
name = "admin"
amount = "0.08"
action = "alert"
"""
BLOCKED_CALLER = "13800138000"
DEMO_INBOUND = "[inbound]\nblocklist_refresh_s = 1.0\n"


CALLS = (
    DemoCall(
        "answered after two seconds, 3 s of talk",
        "1001",
        "1002",
        "answer",
        {"answer_after_ms": 2000},
        {"talk_ms": 3000},
    ),
    DemoCall(
        f"nobody answers ({DEMO_NO_ANSWER_TIMEOUT_S} s no-answer timeout)",
        "2001",
        "2002",
        "no_answer",
        {},
        {},
    ),
    DemoCall("the callee is busy", "1003", "2003", "busy", {}, {}),
    DemoCall("the callee declines", "2004", "1003", "decline", {}, {}),
    DemoCall(
        "the caller hangs up while it rings", "2003", "8001", "no_answer", {}, {"cancel_after_ms": 2500}
    ),
    DemoCall("an extension that does not exist", "1002", "4321", None, {}, {}),
    DemoCall(
        "0 for an outside line, then a 168 premium-rate number (OUT-1)",
        "2003",
        "016812345678",
        CARRIER,
        {},
        {},
    ),
    DemoCall(
        "a long-distance number; 陈杰 may not, and types a wrong code three times (OUT-2, OUT-3)",
        "1003",
        "001012345678",
        CARRIER,
        {},
        {"talk_ms": None, "dtmf": ((1000, "111111#"), (2000, "111222#"), (2000, "111333#"))},
    ),
    DemoCall(
        f"the same call with 王丽's authorization code {DIRECTOR_PIN}# (set by `lab up`) "
        "and matter code 42# (OUT-3)",
        "1003",
        "001012345678",
        CARRIER,
        {},
        {"talk_ms": 2000, "dtmf": ((1000, f"{DIRECTOR_PIN}#"), (1000, "42#"))},
    ),
    DemoCall(
        f"a local call that runs past the demo's {DEMO_LOCAL_LIMIT_S} s limit (OUT-4)",
        "2004",
        "062345678",
        CARRIER,
        {},
        {"talk_ms": (DEMO_LOCAL_LIMIT_S + 2) * 1000},
    ),
    DemoCall(
        "a customer calls 陈杰; he does not answer in three rings, the front desk does (ANS-1, ANS-3, ANS-4)",
        "01088886666",
        "1003",
        "no_answer",
        {},
        {"talk_ms": 2000},
        outside=True,
        others=(("8000", "answer", {"answer_after_ms": 1500}),),
    ),
    DemoCall(
        "a customer calls the sales manager 刘洋; his assistant 孙慧 answers (XFER-1)",
        "02166667777",
        "2001",
        None,
        {},
        {"talk_ms": 2000},
        outside=True,
        others=(("2002", "answer", {"answer_after_ms": 1000}),),
    ),
    DemoCall(
        "a customer calls 陈杰; nobody in admin answers, so she leaves a message (XFER-3)",
        "13512345678",
        "1003",
        "no_answer",
        {},
        {"talk_ms": None, "dtmf": ((9000, "~~#"),)},  # speaks after the tone, then presses #
        outside=True,
        others=(("8000", "no_answer", {}), ("8001", "no_answer", {})),
    ),
    DemoCall(
        f"{BLOCKED_CALLER}, on the blocklist for harassing calls, calls 陈杰 (SEC-1)",
        BLOCKED_CALLER,
        "1003",
        None,
        {},
        {},
        outside=True,
    ),
)


def _what_phone_saw(run: SippRun | None) -> str:
    if run is None:
        return "did not ring"
    events = [e for _, e in run.events()]
    return ", ".join(events) or "nothing"


async def _place(lab: Lab, work: Path, n: int, call: DemoCall) -> tuple[str, str, list[str]]:
    assert lab.state is not None
    phone = None
    if call.phone == CARRIER:
        phone = await start_sipp(
            work,
            f"{n}-carrier",
            callee_scenario("answer", answer_after_ms=500),
            ["-i", "127.0.0.1", "-p", str(lab.state.carrier_port), "-m", "1"],
        )
        await asyncio.sleep(0.2)
    elif call.phone is not None:
        phone = await start_sipp(
            work,
            f"{n}-phone-{call.dialed}",
            callee_scenario(call.phone, **call.phone_kw),
            ["-i", "127.0.0.1", "-p", str(lab.state.phones[call.dialed]), "-m", "1"],
        )
        await asyncio.sleep(0.2)
    others = []
    for ext, behaviour, kw in call.others:
        others.append(
            await start_sipp(
                work,
                f"{n}-phone-{ext}",
                callee_scenario(behaviour, **kw),
                ["-i", "127.0.0.1", "-p", str(lab.state.phones[ext]), "-m", "1"],
            )
        )
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
        try:
            await other.wait(5)
        except TimeoutError:
            pass
        seen_by_others.append(f"{ext}'s phone: {_what_phone_saw(other)}")
    if phone is not None:
        try:
            await phone.wait(2 if call.phone == CARRIER else 5)
        except TimeoutError:
            pass
    caller_saw = ", ".join(e for _, e in caller.events()) or "nothing"
    if call.phone == CARRIER and phone is not None and not phone.dialed():
        return caller_saw, "no call reached the trunk", seen_by_others
    return caller_saw, _what_phone_saw(phone), seen_by_others


@dataclass(frozen=True)
class MonthSummary:
    month: str
    bill: Bill
    alerts: list[dict[str, Any]]


async def _month_summary(engine: AsyncEngine, config_path: str, since: datetime) -> MonthSummary:
    """LOG-4 at the end of the demo: this month's bill and the budget alerts this run gave."""
    from sqlalchemy import select

    from callguard.config import load_config
    from callguard.reports.bills import monthly_bill
    from callguard.reports.inputs import bill_inputs
    from callguard.store.archive import month_of, read_month
    from callguard.store.models import BudgetAlertRow

    month = month_of(datetime.now(UTC))
    budgets, people, names = await bill_inputs(engine, load_config(config_path))
    bill = monthly_bill(
        month, await read_month(engine, month), budgets=budgets, people=people, department_names=names
    )
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(BudgetAlertRow)
            .where(BudgetAlertRow.month == month, BudgetAlertRow.at >= since)
            .order_by(BudgetAlertRow.at)
        )
        alerts = [dict(r._mapping) for r in rows]
    return MonthSummary(month, bill, alerts)


def _local_time(at: datetime | None) -> str:
    if at is None:
        return "-"
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone().strftime("%H:%M:%S")  # stored UTC


def _print_summary(summary: MonthSummary, violations: list[dict[str, Any]], cli: Path) -> None:
    """The demo ends with what finance and HR read: the bill, the budget alert, the ladder."""
    from callguard.reports.money import yuan
    from callguard.reports.render import bill_department_lines

    print(f"\nthis month's bill per department ({cli} bill --month {summary.month}; --format html|csv):")
    for line in bill_department_lines(summary.bill):
        print(f"  {line}")
    amounts = {use.key: use.amount for use in summary.bill.budgets}
    print("\nbudget alerts of this run (alert.budget_threshold on MQTT and in the log; table budget_alerts):")
    for alert in summary.alerts:
        at = _local_time(alert["at"])
        print(
            f"  {alert['budget']} crossed {alert['threshold_pct']} % at {at}: spent {yuan(alert['spend'])}"
            f" of {yuan(amounts.get(alert['budget']))}"
        )
    if not summary.alerts:
        print("  none: no budget reached a new threshold this month")
    print(f"\nviolations of these calls and their ladder steps, LOG-5 ({cli} violations list):")
    for violation in violations:
        print(f"  {violation_line(violation)}")


def _prompts(log: list[dict[str, Any]], call_id: str) -> str:
    heard = [str(e.get("prompt")) for e in log if e.get("call_id") == call_id and e["event"] == "call.prompt"]
    heard += [
        "duration_warning"
        for e in log
        if e.get("call_id") == call_id and e["event"] == "call.duration_warning"
    ]
    return ", ".join(heard)


async def run_demo(state_dir: Path | None = None) -> int:
    state_dir = state_dir or default_state_dir()
    lab = Lab(
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
    if lab.state is not None:
        lab.down()  # a lab left from an earlier run
    print("starting the lab: Asterisk, mosquitto, callguard and its console on 127.0.0.1 ...", flush=True)
    state = lab.up(phones=False, console=True)
    started = datetime.now(UTC)
    work = state_dir / "demo"
    work.mkdir(exist_ok=True)
    try:
        engine = make_engine(state.database_url)
        await migrate(engine)
        # As an operator would: `callguard block add 13800138000 --reason ... --by ma.lin`.
        await add_block(engine, BlockEntry(BLOCKED_CALLER, False, "harassing calls", "ma.lin"))
        for n, call in enumerate(CALLS, 1):
            print(f"\n[{n}] {call.caller} dials {call.dialed}: {call.title}", flush=True)
            caller_saw, phone_saw, others_saw = await _place(lab, work, n, call)
            print(f"    caller's phone: {caller_saw}")
            if call.phone is not None:
                far_end = "the carrier" if call.phone == CARRIER else f"{call.dialed}'s phone"
                print(f"    {far_end}: {phone_saw}")
            for line in others_saw:
                print(f"    {line}")
        try:
            # The writer may still be turning the last provisional records into final ones.
            for _ in range(50):
                records = list(reversed(await list_calls(engine, limit=len(CALLS))))
                if all(r["disposition"] != IN_PROGRESS for r in records):
                    break
                await asyncio.sleep(0.1)
            demo_calls = {r["call_id"] for r in records}
            violations = [v for v in reversed(await list_violations(engine)) if v["call_id"] in demo_calls]
            messages = [m for m in await list_messages(engine) if m["call_id"] in demo_calls]
            summary = await _month_summary(engine, state.config_path, started)
        finally:
            await engine.dispose()
        accounts = add_lab_accounts(state.config_path)
    except BaseException:
        lab.down()  # the lab stays up only for a demo that ran to the end, to browse the console
        raise
    logged = [
        json.loads(line)
        for line in Path(state.callguard_log).read_text().splitlines()
        if line.startswith("{")
    ]
    print("\ncall records written by callguard (prompts each caller heard in brackets):")
    for rec in records:
        heard = _prompts(logged, rec["call_id"])
        print(f"  {call_line(rec)}" + (f"\n      heard: {heard}" if heard else ""))
    print("\nmessages left (callguard messages list):")
    recordings = f"{state.asterisk_run_dir}/spool/recording"
    for m in messages:
        who = f"for {m['for_ext']} ({m['for_person']}) from {m['caller_number']}"
        print(f"  #{m['id']} {who}, {m['duration_s']:.0f} s: {recordings}/{m['recording']}")
    call_events = sum(
        1 for e in logged if e.get("call_id") in demo_calls and str(e["event"]).startswith("call.")
    )
    print(f"\nrecords: {state.database_url}")
    cli = Path(sys.argv[0]) if Path(sys.argv[0]).name == "callguard" else Path("callguard")
    print(f"  {cli} calls list       (add --json for every field)")
    print(f"  {cli} violations list  (the ledger with fines)")
    print(
        f"log: {state.callguard_log}  ({call_events} events of these calls, "
        "the same ones published on MQTT under callguard/demo/calls/<call_id>/<event>)"
    )
    _print_summary(summary, violations, cli)
    print_console(state.web_url, accounts)
    expected = [
        "answered",
        "no_answer",
        "busy",
        "declined",
        "abandoned",
        "unknown_extension",
        "premium_number",
        "pin_refused",
        "answered",
        "answered",
        "answered",
        "answered",
        "message",
        "blocked_caller",
    ]
    got = [r["disposition"] for r in records]
    if got != expected:
        print(f"\nunexpected outcomes: {got} (expected {expected})")
        return 1
    return 0
