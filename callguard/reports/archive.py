"""The archive (LOG-2): a month of records exported whole (CSV or JSON lines), and retention:
old months pruned only after their bill is written, never a violation under appeal."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.reports.bills import Who, monthly_bill
from callguard.reports.render import bill_csv, jsonable, write_csv
from callguard.store.archive import (
    PruneMonth,
    PruneResult,
    delete_calls,
    month_of,
    months_to_prune,
    oldest_start,
    read_month,
    under_appeal,
)
from callguard.store.models import CallRow

Row = dict[str, Any]
NESTED = ("legs", "violations", "message")


def call_columns() -> list[str]:
    """Every column of `calls` (those later revisions add included), then the nested rows."""
    return [c.name for c in CallRow.__table__.columns] + list(NESTED)


def export_jsonl(calls: list[Row]) -> bytes:
    """One JSON object per call: every column, its legs, violations and message; Decimal as a
    string, times as UTC ISO."""
    return "".join(json.dumps(jsonable(c), ensure_ascii=False) + "\n" for c in calls).encode("utf-8")


def export_csv(calls: list[Row]) -> bytes:
    """One row per call, every column; legs, violations, message and the JSON columns as JSON
    text. Excel-safe (BOM, CRLF, no formula)."""
    columns = call_columns()
    rows: list[list[Any]] = [columns]
    for call in calls:
        row = []
        for name in columns:
            value = jsonable(call.get(name))
            row.append(json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value)
        rows.append(row)
    return write_csv(rows)


def _next_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


BillInputs = Callable[[], tuple[Mapping[str, Decimal], Mapping[str, Who], Mapping[str, str]]]


async def prune(
    engine: AsyncEngine,
    *,
    now: datetime,
    retention_months: int,
    tz: tzinfo | None = None,
    bills_dir: Path,
    dry_run: bool = False,
    bill_inputs: BillInputs | None = None,
) -> PruneResult:
    """Delete whole months past the retention (LOG-2). Each month's bill is written first to
    `<bills_dir>/YYYY-MM.csv` (kept if already there: it was written from the whole month);
    calls with a violation under appeal (LOG-5) stay, with their legs and violations."""
    last = months_to_prune(now, retention_months, tz)
    result = PruneResult(before=last)
    oldest = await oldest_start(engine)
    if last is None or oldest is None:
        return result
    budgets, people, names = bill_inputs() if bill_inputs else ({}, {}, {})
    month = month_of(oldest, tz)
    while month <= last:
        calls = await read_month(engine, month, tz)
        if calls:
            keep = [c for c in calls if any(under_appeal(v, now) for v in c["violations"])]
            kept = {c["id"] for c in keep}
            gone = [c for c in calls if c["id"] not in kept]
            done = PruneMonth(month, calls=len(gone), kept=len(keep))
            path = bills_dir / f"{month}.csv"
            if not dry_run:
                if not path.exists():
                    bill = monthly_bill(month, calls, budgets=budgets, people=people, department_names=names)
                    bills_dir.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(bill_csv(bill))
                await delete_calls(engine, gone)
            done.bill = str(path)
            result.months.append(done)
        month = _next_month(month)
    return result
