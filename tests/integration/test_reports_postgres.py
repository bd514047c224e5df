"""Month reads, export and prune on a real PostgreSQL (LOG-2): the same queries as on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update

from callguard.reports.archive import export_jsonl, prune
from callguard.reports.bills import monthly_bill
from callguard.reports.compliance import compliance
from callguard.reports.render import jsonable
from callguard.store import make_engine, migrate, write_records
from callguard.store.archive import read_calls, read_month
from callguard.store.models import ViolationRow
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 (the fixture)
from tests.unit.test_reports import BUDGETS, MONTH, PEOPLE, month_records, other_month


async def test_bill_export_and_prune_on_postgres(postgres: PgServer, tmp_path: Path) -> None:  # noqa: F811
    engine = make_engine(postgres.url)
    try:
        await migrate(engine)
        await write_records(engine, [*month_records(), other_month()])
        calls = await read_month(engine, MONTH, UTC)
        assert len(calls) == 9 and calls[0]["started_at"].tzinfo is not None
        bill = monthly_bill(MONTH, calls, budgets=BUDGETS, people=PEOPLE)
        assert (bill.total.calls, bill.total.cost) == (4, Decimal("4.05"))
        report = compliance(MONTH, calls, people=PEOPLE)
        admin = next(d for d in report.departments if d.key == "admin")
        assert (admin.answering.offered, admin.answering.answered_in_limit) == (3, 2)
        back = [json.loads(line) for line in export_jsonl(calls).decode().splitlines()]
        assert back == [jsonable(c) for c in calls]
        assert next(b for b in back if b["call_id"] == "out-2")["cost"] == "3.5000"

        async with engine.begin() as conn:  # one violation's appeal is pending (LOG-5)
            await conn.execute(
                update(ViolationRow).where(ViolationRow.call_id == "in-1").values(status="appealed")
            )
            await conn.execute(
                update(ViolationRow)
                .where(ViolationRow.call_id == "in-4")
                .values(status="open", appeal_by=date(2026, 11, 20))
            )
        now = datetime(2027, 1, 5, tzinfo=UTC)
        done = await prune(engine, now=now, retention_months=1, tz=UTC, bills_dir=tmp_path / "bills")
        assert [(m.month, m.calls, m.kept) for m in done.months] == [("2026-10", 1, 0), ("2026-11", 8, 1)]
        left = await read_calls(engine, datetime(2000, 1, 1, tzinfo=UTC), now)
        assert [c["call_id"] for c in left] == ["in-1"] and len(left[0]["legs"]) == 3
        assert [v["status"] for v in left[0]["violations"]] == ["appealed"]
        assert "3.72" in (tmp_path / "bills" / "2026-11.csv").read_text(encoding="utf-8-sig")
    finally:
        await engine.dispose()
