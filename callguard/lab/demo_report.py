"""What the demo prints after its calls: the records with the prompts heard, the messages, where to
look next, and what finance and HR read (the bill, the budget alerts, the violations' ladder)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.lab.state import LabState
from callguard.reports.bills import Bill
from callguard.store.text import call_line, violation_line


@dataclass(frozen=True)
class MonthSummary:
    month: str
    bill: Bill
    alerts: list[dict[str, Any]]


async def month_summary(engine: AsyncEngine, config_path: str, since: datetime) -> MonthSummary:
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


@dataclass(frozen=True)
class Outcome:
    """What the demo's calls left in the database."""

    records: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    summary: MonthSummary

    @property
    def call_ids(self) -> set[str]:
        return {r["call_id"] for r in self.records}


def print_outcome(state: LabState, outcome: Outcome, cli: Path) -> None:
    logged = [
        json.loads(line)
        for line in Path(state.callguard_log).read_text().splitlines()
        if line.startswith("{")
    ]
    print("\ncall records written by callguard (prompts each caller heard in brackets):")
    for rec in outcome.records:
        heard = _prompts(logged, rec["call_id"])
        print(f"  {call_line(rec)}" + (f"\n      heard: {heard}" if heard else ""))
    print("\nmessages left (callguard messages list):")
    recordings = f"{state.asterisk_run_dir}/spool/recording"
    for m in outcome.messages:
        who = f"for {m['for_ext']} ({m['for_person']}) from {m['caller_number']}"
        print(f"  #{m['id']} {who}, {m['duration_s']:.0f} s: {recordings}/{m['recording']}")
    call_events = sum(
        1 for e in logged if e.get("call_id") in outcome.call_ids and str(e["event"]).startswith("call.")
    )
    print(f"\nrecords: {state.database_url}")
    print(f"  {cli} calls list       (add --json for every field)")
    print(f"  {cli} violations list  (the ledger with fines)")
    print(
        f"log: {state.callguard_log}  ({call_events} events of these calls, "
        "the same ones published on MQTT under callguard/demo/calls/<call_id>/<event>)"
    )
    _print_summary(outcome.summary, outcome.violations, cli)
