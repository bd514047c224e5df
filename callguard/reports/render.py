"""Bills and reports as text and CSV (Excel-safe); the bill's HTML page is `bill_page`, the shared
helpers (CSV, JSON values) `formats`, re-exported here for the callers that import them from here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from callguard.reports.bill_page import bill_chart_svg, bill_html
from callguard.reports.bills import Bill, BudgetUse, DepartmentBill, PersonBill, TopCall, Usage
from callguard.reports.compliance import Compliance, Figures
from callguard.reports.formats import (
    CSV_BOM,
    budget_text,
    excel_safe,
    jsonable,
    local_time,
    pct,
    usage_text,
    write_csv,
)
from callguard.reports.money import cents, yuan
from callguard.store.text import pad

__all__ = [
    "BILL_COLUMNS",
    "CSV_BOM",
    "TOP_COLUMNS",
    "bill_chart_svg",
    "bill_csv",
    "bill_department_lines",
    "bill_html",
    "bill_rows",
    "bill_text",
    "compliance_text",
    "excel_safe",
    "jsonable",
    "write_csv",
]

# --- the bill -----------------------------------------------------------------------------------


def bill_department_lines(bill: Bill) -> list[str]:
    """The bill's summary: one line per department, then the total (the demo ends with it)."""
    lines = [f"{pad(d.name, 28)} {usage_text(d.total)}  {budget_text(d.budget)}" for d in bill.departments]
    return [*lines, f"{pad('total', 28)} {usage_text(bill.total)}"]


def bill_text(bill: Bill) -> str:
    scope = f"department {bill.department}" if bill.department else "all departments"
    lines = [f"Phone bill {bill.month} ({scope}) — 话费账单", ""]
    for dept in bill.departments:
        lines.append(f"{pad(dept.name, 28)} {usage_text(dept.total)}  {budget_text(dept.budget)}")
        for cls, usage in dept.by_class.items():
            lines.append(f"    {pad(cls, 24)} {usage_text(usage)}")
        for person in dept.people:
            lines.append(
                f"  {pad(person.name, 18)} {pad(person.number, 7)} {usage_text(person.total)}"
                f"  {budget_text(person.budget)}"
            )
    lines += ["", f"{pad('total', 28)} {usage_text(bill.total)}"]
    for cls, usage in bill.by_class.items():
        lines.append(f"    {pad(cls, 24)} {usage_text(usage)}")
    if bill.budgets:
        lines += ["", "budgets:"]
        for use in bill.budgets:
            amount = yuan(use.amount)
            lines.append(
                f"  {pad(use.key, 26)} {amount:>12} spent {yuan(use.spent):>12}  used {pct(use.used_pct)}"
            )
    if bill.top_calls:
        lines += ["", "most expensive calls:"]
        for c in bill.top_calls:
            matter = f" matter {c.matter}" if c.matter else ""
            lines.append(
                f"  {local_time(c.started_at)}  {pad(c.name, 18)} -> {pad(c.dialed, 16)} "
                f"{pad(c.number_class, 14)}"
                f"{c.seconds:>7.0f} s {yuan(c.cost):>12}{matter}"
            )
    return "\n".join(lines) + "\n"


BILL_COLUMNS = [
    "month",
    "department",
    "person",
    "name",
    "number",
    "number_class",
    "calls",
    "minutes",
    "cost_yuan",
    "unpriced_calls",
    "budget_yuan",
    "budget_used_pct",
]
TOP_COLUMNS = [
    "started_at",
    "department",
    "name",
    "number",
    "dialed",
    "number_class",
    "seconds",
    "cost_yuan",
    "matter",
    "tariff",
]


def _usage_cells(u: Usage) -> list[Any]:
    return [u.calls, u.minutes, cents(u.cost), u.unpriced]


def _budget_cells(use: BudgetUse | None) -> list[Any]:
    if use is None or use.amount is None:
        return ["", ""]
    return [cents(use.amount), use.used_pct if use.used_pct is not None else ""]


def _person_rows(month: str, dept: DepartmentBill, person: PersonBill) -> list[list[Any]]:
    who = [month, dept.department, person.person, person.name, person.number]
    rows = [[*who, cls, *_usage_cells(usage), "", ""] for cls, usage in person.by_class.items()]
    rows.append([*who, "all", *_usage_cells(person.total), *_budget_cells(person.budget)])
    return rows


def _department_rows(month: str, dept: DepartmentBill) -> list[list[Any]]:
    who = [month, dept.department, "", dept.name, ""]
    rows = [[*who, cls, *_usage_cells(usage), "", ""] for cls, usage in dept.by_class.items()]
    rows.append([*who, "all", *_usage_cells(dept.total), *_budget_cells(dept.budget)])
    return rows


def _top_call_row(c: TopCall) -> list[Any]:
    started = c.started_at.isoformat() if c.started_at else ""
    return [
        *(started, c.department, c.name, c.number, c.dialed, c.number_class),
        *(round(c.seconds), cents(c.cost), c.matter or "", c.tariff or ""),
    ]


def bill_rows(bill: Bill) -> list[list[Any]]:
    """One row per person and class, per person ("all"), per department (person empty)."""
    rows: list[list[Any]] = [BILL_COLUMNS]
    for dept in bill.departments:
        for person in dept.people:
            rows += _person_rows(bill.month, dept, person)
        rows += _department_rows(bill.month, dept)
    rows.append([bill.month, "", "", "total", "", "all", *_usage_cells(bill.total), "", ""])
    rows += [[], TOP_COLUMNS]
    rows += [_top_call_row(c) for c in bill.top_calls]
    return rows


def bill_csv(bill: Bill) -> bytes:
    return write_csv(bill_rows(bill))


# --- the compliance report ----------------------------------------------------------------------


def _violations_text(f: Figures) -> str:
    if not f.violations:
        return "none"
    return ", ".join(
        f"{rule} " + "/".join(f"{step}:{n}" for step, n in sorted(steps.items()))
        for rule, steps in sorted(f.violations.items())
    )


def _figures_text(f: Figures) -> list[str]:
    a = f.answering
    rate = f"{(a.in_limit_rate * 100).quantize(Decimal('0.1'))} %" if a.in_limit_rate is not None else "-"
    rings = str(a.average_rings) if a.average_rings is not None else "-"
    return [
        f"  offered {a.offered}, answered {a.answered} "
        f"({a.answered_in_limit} within the ring limit, rate {rate}), "
        f"average rings {rings}, missed {a.missed} (unanswered {a.unanswered}, abandoned {a.abandoned}), "
        f"answered by a colleague {a.answered_elsewhere}",
        f"  violations: {_violations_text(f)}; fines {yuan(f.fines)}",
        f"  outside calls {f.outside_calls} ({f.outside.calls} answered, {f.outside.minutes} min, "
        f"{yuan(f.outside.cost)}); {budget_text(f.budget)}",
    ]


def compliance_text(report: Compliance) -> str:
    scope = f"department {report.department}" if report.department else "all departments"
    lines = [f"Compliance {report.period} ({scope}) — 接听规范", "", "departments:"]
    for d in report.departments:
        lines += [f"{d.name}", *_figures_text(d)]
    lines += ["", "people:"]
    for p in report.people:
        lines += [f"{p.name} ({p.key}, {p.department})", *_figures_text(p)]
    return "\n".join(lines) + "\n"
