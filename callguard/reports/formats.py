"""What every bill and report format shares: Excel-safe CSV, JSON values, HTML tables, and the
short texts of money, budgets and times (shown in local time; stored UTC)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from callguard.reports.bills import BudgetUse, Usage
from callguard.reports.money import yuan

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


def local_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def pct(value: Decimal | None) -> str:
    return f"{value} %" if value is not None else "-"


def budget_text(use: BudgetUse | None) -> str:
    if use is None or use.amount is None:
        return "budget -"
    return f"budget {yuan(use.amount)}, used {pct(use.used_pct)}"


def usage_text(u: Usage) -> str:
    unpriced = f" ({u.unpriced} not priced)" if u.unpriced else ""
    return f"{u.calls:>4} calls {u.minutes:>7} min {yuan(u.cost):>12}{unpriced}"


def html_table(header: list[str], rows: list[list[Any]], sub: set[int] | None = None) -> str:
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
