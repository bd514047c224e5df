"""The bill as a printable HTML page: inline CSS and an SVG chart, nothing loaded from anywhere
(PBX networks are often offline)."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from callguard.reports.bills import Bill, DepartmentBill
from callguard.reports.formats import budget_text, html_table, local_time, pct
from callguard.reports.money import cents, yuan

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


def _department_section(dept: DepartmentBill) -> str:
    rows: list[list[Any]] = []
    for person in dept.people:
        for cls, u in person.by_class.items():
            rows.append([person.name, person.number, cls, u.calls, u.minutes, yuan(u.cost), ""])
        total = person.total
        budget = budget_text(person.budget) if person.budget else ""
        rows.append([person.name, person.number, "all", total.calls, total.minutes, yuan(total.cost), budget])
    subtotal = {len(rows)}
    total = dept.total
    rows.append(
        [dept.name, "", "all", total.calls, total.minutes, yuan(total.cost), budget_text(dept.budget)]
    )
    table = html_table(["person", "number", "class", "calls", "minutes", "cost", "budget"], rows, subtotal)
    return f"<section><h2>{escape(dept.name)}</h2>{table}</section>"


def _totals_section(bill: Bill) -> str:
    totals: list[list[Any]] = [[cls, u.calls, u.minutes, yuan(u.cost)] for cls, u in bill.by_class.items()]
    totals.append(["all", bill.total.calls, bill.total.minutes, yuan(bill.total.cost)])
    table = html_table(["class", "calls", "minutes", "cost"], totals, {len(totals) - 1})
    return f"<section><h2>Total</h2>{table}</section>"


def _budgets_section(bill: Bill) -> str:
    budgets: list[list[Any]] = [[u.key, yuan(u.amount), yuan(u.spent), pct(u.used_pct)] for u in bill.budgets]
    return f"<section><h2>Budgets</h2>{html_table(['budget', 'amount', 'spent', 'used'], budgets)}</section>"


def _top_calls_section(bill: Bill) -> str:
    top: list[list[Any]] = [
        [
            local_time(c.started_at),
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
    return f"<section><h2>Most expensive calls</h2>{html_table(header, top)}</section>"


def bill_html(bill: Bill) -> str:
    """A printable page: inline CSS and SVG, nothing loaded from anywhere (PBX networks are
    often offline)."""
    title = f"话费账单 Phone bill {bill.month}" + (f" — {bill.department}" if bill.department else "")
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<section><h2>Cost by department and number class</h2>{bill_chart_svg(bill)}</section>",
        *(_department_section(dept) for dept in bill.departments),
        _totals_section(bill),
    ]
    if bill.budgets:
        sections.append(_budgets_section(bill))
    if bill.top_calls:
        sections.append(_top_calls_section(bill))
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )
