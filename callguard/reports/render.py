"""Bills and reports as text, CSV (Excel-safe) and HTML (printable, self-contained, with an SVG
chart), and as JSON-ready dicts for a console."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from callguard.reports.bills import Bill, BudgetUse, Usage
from callguard.reports.compliance import Compliance, Figures
from callguard.reports.money import cents, yuan
from callguard.store.text import pad

# A cell Excel would read as a formula (=, +, -, @; tab and CR start one too) gets a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_BOM = "\ufeff"  # Excel reads UTF-8 (Chinese names) only with the BOM


def excel_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 with BOM, CRLF line ends, every cell formula-safe: opens right in Excel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([excel_safe(cell) for cell in row])
    return (CSV_BOM + out.getvalue()).encode("utf-8")


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimal (as a string: exact), datetimes (ISO, UTC) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for prop in ("minutes", "used_pct", "in_limit_rate", "average_rings", "missed"):
            if hasattr(type(value), prop):
                data[prop] = jsonable(getattr(value, prop))
        return data
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _local(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def _pct(value: Decimal | None) -> str:
    return f"{value} %" if value is not None else "-"


def _budget_text(use: BudgetUse | None) -> str:
    if use is None or use.amount is None:
        return "budget -"
    return f"budget {yuan(use.amount)}, used {_pct(use.used_pct)}"


def _usage_text(u: Usage) -> str:
    unpriced = f" ({u.unpriced} not priced)" if u.unpriced else ""
    return f"{u.calls:>4} calls {u.minutes:>7} min {yuan(u.cost):>12}{unpriced}"


# --- the bill -----------------------------------------------------------------------------------


def bill_department_lines(bill: Bill) -> list[str]:
    """The bill's summary: one line per department, then the total (the demo ends with it)."""
    lines = [f"{pad(d.name, 28)} {_usage_text(d.total)}  {_budget_text(d.budget)}" for d in bill.departments]
    return [*lines, f"{pad('total', 28)} {_usage_text(bill.total)}"]


def bill_text(bill: Bill) -> str:
    scope = f"department {bill.department}" if bill.department else "all departments"
    lines = [f"Phone bill {bill.month} ({scope}) — 话费账单", ""]
    for dept in bill.departments:
        lines.append(f"{pad(dept.name, 28)} {_usage_text(dept.total)}  {_budget_text(dept.budget)}")
        for cls, usage in dept.by_class.items():
            lines.append(f"    {pad(cls, 24)} {_usage_text(usage)}")
        for person in dept.people:
            lines.append(
                f"  {pad(person.name, 18)} {pad(person.number, 7)} {_usage_text(person.total)}"
                f"  {_budget_text(person.budget)}"
            )
    lines += ["", f"{pad('total', 28)} {_usage_text(bill.total)}"]
    for cls, usage in bill.by_class.items():
        lines.append(f"    {pad(cls, 24)} {_usage_text(usage)}")
    if bill.budgets:
        lines += ["", "budgets:"]
        for use in bill.budgets:
            amount = yuan(use.amount)
            lines.append(
                f"  {pad(use.key, 26)} {amount:>12} spent {yuan(use.spent):>12}  used {_pct(use.used_pct)}"
            )
    if bill.top_calls:
        lines += ["", "most expensive calls:"]
        for c in bill.top_calls:
            matter = f" matter {c.matter}" if c.matter else ""
            lines.append(
                f"  {_local(c.started_at)}  {pad(c.name, 18)} -> {pad(c.dialed, 16)} "
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


def bill_rows(bill: Bill) -> list[list[Any]]:
    """One row per person and class, per person ("all"), per department (person empty)."""
    m = bill.month
    rows: list[list[Any]] = [BILL_COLUMNS]
    for dept in bill.departments:
        for person in dept.people:
            for cls, usage in person.by_class.items():
                rows.append(
                    [
                        m,
                        dept.department,
                        person.person,
                        person.name,
                        person.number,
                        cls,
                        *_usage_cells(usage),
                        "",
                        "",
                    ]
                )
            rows.append(
                [
                    m,
                    dept.department,
                    person.person,
                    person.name,
                    person.number,
                    "all",
                    *_usage_cells(person.total),
                    *_budget_cells(person.budget),
                ]
            )
        for cls, usage in dept.by_class.items():
            rows.append([m, dept.department, "", dept.name, "", cls, *_usage_cells(usage), "", ""])
        rows.append(
            [
                m,
                dept.department,
                "",
                dept.name,
                "",
                "all",
                *_usage_cells(dept.total),
                *_budget_cells(dept.budget),
            ]
        )
    rows.append([m, "", "", "total", "", "all", *_usage_cells(bill.total), "", ""])
    rows += [[], TOP_COLUMNS]
    for c in bill.top_calls:
        rows.append(
            [
                c.started_at.isoformat() if c.started_at else "",
                c.department,
                c.name,
                c.number,
                c.dialed,
                c.number_class,
                round(c.seconds),
                cents(c.cost),
                c.matter or "",
                c.tariff or "",
            ]
        )
    return rows


def bill_csv(bill: Bill) -> bytes:
    return write_csv(bill_rows(bill))


_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.sub td { background: #f3f3f3; font-weight: bold; }
.chart text { font-size: 11px; }
@media print {
  body { margin: 0; font-size: 10pt; }
  section { page-break-inside: avoid; }
  @page { size: A4; margin: 15mm; }
}
"""
_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]


def bill_chart_svg(bill: Bill) -> str:
    """Cost by department, each bar stacked by number class: inline SVG, no script."""
    classes = sorted({cls for d in bill.departments for cls in d.by_class})
    colour = {cls: _PALETTE[i % len(_PALETTE)] for i, cls in enumerate(classes)}
    peak = max((d.total.cost for d in bill.departments), default=Decimal(0)) or Decimal(1)
    bar_w, gap, height, left = 48, 28, 200, 60
    width = left + len(bill.departments) * (bar_w + gap) + 160
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}" '
        f'role="img" aria-label="cost by department and number class">'
    ]
    for i, dept in enumerate(bill.departments):
        x, y = left + i * (bar_w + gap), float(height + 10)
        for cls in classes:
            usage = dept.by_class.get(cls)
            if usage is None or not usage.cost:
                continue
            h = float(usage.cost / peak) * height
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{colour[cls]}">'
                f"<title>{escape(dept.name)} {escape(cls)}: {escape(yuan(usage.cost))}</title></rect>"
            )
        parts.append(f'<text x="{x}" y="{height + 25}">{escape(dept.department)}</text>')
        parts.append(f'<text x="{x}" y="{y - 4:.1f}">{escape(cents(dept.total.cost))}</text>')
    legend_x = left + len(bill.departments) * (bar_w + gap) + 10
    for j, cls in enumerate(classes):
        parts.append(
            f'<rect x="{legend_x}" y="{20 + j * 16}" width="10" height="10" fill="{colour[cls]}"/>'
            f'<text x="{legend_x + 14}" y="{29 + j * 16}">{escape(cls)}</text>'
        )
    parts.append(f'<text x="0" y="{height + 50}">元</text></svg>')
    return "".join(parts)


def _html_table(header: list[str], rows: list[list[Any]], sub: set[int] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="n">{escape(str(c))}</td>'
            if isinstance(c, int | Decimal)
            else f"<td>{escape(str(c))}</td>"
            for c in row
        )
        body.append(f'<tr class="sub">{cells}</tr>' if sub and i in sub else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bill_html(bill: Bill) -> str:
    """A printable page: inline CSS and SVG, nothing loaded from anywhere (PBX networks are
    often offline)."""
    title = f"话费账单 Phone bill {bill.month}" + (f" — {bill.department}" if bill.department else "")
    sections = [
        f"<h1>{escape(title)}</h1>",
        "<section><h2>Cost by department and number class</h2>",
        bill_chart_svg(bill),
        "</section>",
    ]
    for dept in bill.departments:
        rows: list[list[Any]] = []
        subtotal = set()
        for person in dept.people:
            for cls, u in person.by_class.items():
                rows.append([person.name, person.number, cls, u.calls, u.minutes, yuan(u.cost), ""])
            budget = _budget_text(person.budget) if person.budget else ""
            rows.append(
                [
                    person.name,
                    person.number,
                    "all",
                    person.total.calls,
                    person.total.minutes,
                    yuan(person.total.cost),
                    budget,
                ]
            )
        subtotal.add(len(rows))
        rows.append(
            [
                dept.name,
                "",
                "all",
                dept.total.calls,
                dept.total.minutes,
                yuan(dept.total.cost),
                _budget_text(dept.budget),
            ]
        )
        table = _html_table(
            ["person", "number", "class", "calls", "minutes", "cost", "budget"], rows, subtotal
        )
        sections.append(f"<section><h2>{escape(dept.name)}</h2>{table}</section>")
    totals = [[cls, u.calls, u.minutes, yuan(u.cost)] for cls, u in bill.by_class.items()]
    totals.append(["all", bill.total.calls, bill.total.minutes, yuan(bill.total.cost)])
    table = _html_table(["class", "calls", "minutes", "cost"], totals, {len(totals) - 1})
    sections.append(f"<section><h2>Total</h2>{table}</section>")
    if bill.budgets:
        budgets = [[u.key, yuan(u.amount), yuan(u.spent), _pct(u.used_pct)] for u in bill.budgets]
        table = _html_table(["budget", "amount", "spent", "used"], budgets)
        sections.append(f"<section><h2>Budgets</h2>{table}</section>")
    if bill.top_calls:
        top = [
            [
                _local(c.started_at),
                c.name,
                c.dialed,
                c.number_class,
                round(c.seconds),
                yuan(c.cost),
                c.matter or "",
            ]
            for c in bill.top_calls
        ]
        header = ["time", "caller", "dialled", "class", "seconds", "cost", "matter"]
        sections.append(f"<section><h2>Most expensive calls</h2>{_html_table(header, top)}</section>")
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


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
        f"{yuan(f.outside.cost)}); {_budget_text(f.budget)}",
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
