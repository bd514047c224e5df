"""LOG-6 in the console: the compliance report of a period as rows (HTML, JSON and CSV alike)
and as charts read at a glance. The figures are `reports.compliance`'s; this module picks what
a viewer may see, lays the figures out in rows and draws them."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from callguard.reports.bills import Bill
from callguard.reports.compliance import Compliance, Figures
from callguard.reports.money import cents
from callguard.web.charts import Bar, column_chart, hbar_chart, stacked_chart

Row = dict[str, Any]
STEPS = ["verbal_warning", "written_warning", "fine", "referral", "-"]
# fullmatch, not match with $: `$` also matches before a trailing newline, and a period ends up
# in a Content-Disposition header ("compliance-2026-11\n.csv": the response is dropped).
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_SPAN = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11", or "2026-11-01..2026-11-15" (both days included)
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def _midnight(day: date, tz: tzinfo | None) -> datetime:
    naive = datetime(day.year, day.month, day.day)
    return (naive.replace(tzinfo=tz) if tz else naive.astimezone()).astimezone(UTC)


def parse_period(text: str | None, tz: tzinfo | None = None, today: date | None = None) -> Period:
    """`2026-11` (a local month) or `2026-11-01..2026-11-15` (local days); default this month."""
    today = today or datetime.now(tz).date()
    label = text or today.strftime("%Y-%m")
    if _MONTH.fullmatch(label):
        first = date(int(label[:4]), int(label[5:]), 1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return Period(label, _midnight(first, tz), _midnight(after, tz))
    span = _SPAN.fullmatch(label)
    try:
        if span is None:
            raise ValueError
        first, last = date.fromisoformat(span[1]), date.fromisoformat(span[2])
    except ValueError:
        raise ValueError(
            f"period: {label!r} is not a month (2026-11) or days (2026-11-01..2026-11-15)"
        ) from None
    if last < first:
        raise ValueError(f"period: {label!r} ends before it starts")
    return Period(label, _midnight(first, tz), _midnight(last + timedelta(days=1), tz))


def scoped(report: Compliance, departments: frozenset[str] | None, person: str | None = None) -> Compliance:
    """What one viewer may see of a report: every figure (None, None), these departments' people
    and totals, or one person's own figures only."""
    if person is not None:
        return replace(report, people=[p for p in report.people if p.key == person], departments=[])
    if departments is None:
        return report
    return replace(
        report,
        people=[p for p in report.people if p.department in departments],
        departments=[d for d in report.departments if d.key in departments],
    )


# --- rows ---------------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "kind",
    "key",
    "name",
    "department",
    "offered",
    "answered",
    "answered_in_limit",
    "in_limit_pct",
    "average_rings",
    "rings_to_answer",
    "unanswered",
    "abandoned",
    "missed",
    "answered_elsewhere",
    "violations",
    "violations_by_rule",
    "fines_yuan",
    "outside_calls",
    "outside_answered",
    "outside_minutes",
    "outside_cost_yuan",
    "budget_yuan",
    "budget_used_pct",
)


def percent(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else (rate * 100).quantize(Decimal("0.1"))


def figures_row(kind: str, f: Figures) -> Row:
    a, budget = f.answering, f.budget
    return {
        "kind": kind,
        "key": f.key,
        "name": f.name,
        "department": f.department,
        "offered": a.offered,
        "answered": a.answered,
        "answered_in_limit": a.answered_in_limit,
        "in_limit_pct": _text(percent(a.in_limit_rate)),
        "average_rings": _text(a.average_rings),
        "rings_to_answer": " ".join(f"{rings}:{n}" for rings, n in sorted(a.rings.items())),
        "unanswered": a.unanswered,
        "abandoned": a.abandoned,
        "missed": a.missed,
        "answered_elsewhere": a.answered_elsewhere,
        "violations": sum(sum(steps.values()) for steps in f.violations.values()),
        "violations_by_rule": "; ".join(
            f"{rule} " + " ".join(f"{step}:{n}" for step, n in sorted(steps.items()))
            for rule, steps in sorted(f.violations.items())
        ),
        "fines_yuan": cents(f.fines),
        "outside_calls": f.outside_calls,
        "outside_answered": f.outside.calls,
        "outside_minutes": str(f.outside.minutes),
        "outside_cost_yuan": cents(f.outside.cost),
        "budget_yuan": cents(budget.amount) if budget and budget.amount is not None else None,
        "budget_used_pct": _text(budget.used_pct) if budget else None,
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def report_rows(report: Compliance) -> list[Row]:
    """Departments first, then people: one row each, the CSV's and the JSON's rows."""
    return [figures_row("department", d) for d in report.departments] + [
        figures_row("person", p) for p in report.people
    ]


# --- charts -------------------------------------------------------------------------------------


def _rings_bars(figures: list[Figures], limit: int) -> list[Bar]:
    """Answers by rings waited: 1, 2, ... up to two past the limit, the rest together; the
    columns past the limit are red (ANS-1)."""
    counts: dict[int, int] = {}
    for f in figures:
        for rings, n in f.answering.rings.items():
            counts[rings] = counts.get(rings, 0) + n
    top = limit + 2
    bars = [Bar(str(r), counts.get(r, 0), warn=r > limit) for r in range(1, top)]
    rest = sum(n for r, n in counts.items() if r >= top)
    return [*bars, Bar(f"{top}+", rest, warn=True)]


def _violations(figures: list[Figures]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in figures:
        for rule, steps in f.violations.items():
            into = out.setdefault(rule, {})
            for step, n in steps.items():
                into[step] = into.get(step, 0) + n
    return dict(sorted(out.items()))


def _rate_bars(figures: list[Figures]) -> list[Bar]:
    return [
        Bar(
            f.name,
            percent(f.answering.in_limit_rate) or Decimal(0),
            text=f"{_text(percent(f.answering.in_limit_rate)) or '-'} %",
        )
        for f in figures
    ]


def _budget_bars(figures: list[Figures]) -> list[Bar]:
    bars = []
    for f in figures:
        amount = f.budget.amount if f.budget else None
        text = f"{cents(f.outside.cost)} / {cents(amount)} 元" if amount else f"{cents(f.outside.cost)} 元"
        bars.append(Bar(f.name, f.outside.cost, text=text, limit=amount))
    return bars


def report_charts(report: Compliance, ring_limit: int) -> list[str]:
    """The report's five charts; per department when it has several, else per person."""
    groups = report.departments if len(report.departments) > 1 else report.people
    answered_in = report.departments or report.people
    return [
        hbar_chart(
            "in-limit-rate", f"Answered within {ring_limit} rings (%)", _rate_bars(groups), " %", full=100
        ),
        column_chart(
            "rings-to-answer", "Rings to answer", _rings_bars(answered_in, ring_limit), "rings waited"
        ),
        hbar_chart("missed", "Missed calls", [Bar(f.name, f.answering.missed) for f in groups]),
        stacked_chart("violations", "Violations by rule and ladder step", _violations(answered_in), STEPS),
        hbar_chart("budget", "Outside calls: cost against budget (元)", _budget_bars(groups), " 元"),
    ]


def person_charts(figures: Figures, ring_limit: int) -> list[str]:
    """A performance review's charts: the person's rings to answer and violations."""
    return [
        column_chart(
            "rings-to-answer", "Rings to answer", _rings_bars([figures], ring_limit), "rings waited"
        ),
        stacked_chart("violations", "Violations by rule and ladder step", _violations([figures]), STEPS),
    ]


def bill_chart(bill: Bill) -> str:
    """The month's cost per department against its budget (LOG-4)."""
    bars = []
    for d in bill.departments:
        amount = d.budget.amount if d.budget else None
        text = f"{cents(d.total.cost)} / {cents(amount)} 元" if amount else f"{cents(d.total.cost)} 元"
        bars.append(Bar(d.name, d.total.cost, text=text, limit=amount))
    return hbar_chart("bill-cost", f"Cost by department, {bill.month} (元)", bars, " 元")
