"""Bills (LOG-4), compliance figures (LOG-6) and the archive (LOG-2) on a real SQLite database
filled through write_records: exact figures, Excel-safe CSV, a self-contained HTML bill, export
round trip, prune and backup."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import update

from callguard.policy import Party
from callguard.records import CallRecord, LegRecord
from callguard.reports.archive import export_csv, export_jsonl, prune
from callguard.reports.bills import Who, monthly_bill
from callguard.reports.compliance import compliance
from callguard.reports.render import bill_csv, bill_html, bill_text, compliance_text, excel_safe, jsonable
from callguard.store import make_engine, migrate, write_records
from callguard.store.archive import backup_sqlite, month_bounds, months_to_prune, read_calls, read_month
from callguard.store.models import ViolationRow

MONTH = "2026-11"
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)

WANG, ZHAO, CHEN, LIU, ZHOU = (
    Party("1001", "王丽 Wang Li", "admin", person="wang.li"),
    Party("1002", "赵敏 Zhao Min", "admin", person="zhao.min"),
    Party("1003", "陈杰 Chen Jie", "admin", person="chen.jie"),
    Party("2001", "刘洋 Liu Yang", "sales", person="liu.yang"),
    Party("2003", "周强 Zhou Qiang", "sales", person="zhou.qiang"),
)
DESK = Party("8000", "前台 Front desk", "admin")
PEOPLE = {
    "1001": Who("wang.li", "王丽 Wang Li", "admin"),
    "1002": Who("zhao.min", "赵敏 Zhao Min", "admin"),
    "1003": Who("chen.jie", "陈杰 Chen Jie", "admin"),
    "2001": Who("liu.yang", "刘洋 Liu Yang", "sales"),
    "2003": Who("zhou.qiang", "周强 Zhou Qiang", "sales"),
    "8000": Who("8000", "前台 Front desk", "admin"),
}
BUDGETS = {"department:admin": Decimal("10"), "person:liu.yang": Decimal("4")}


def _outside(
    n: int, caller: Party, dialed: str, cls: str, talk: int | None, cost: str | None, **kw: Any
) -> CallRecord:
    start = T0 + timedelta(hours=n)
    answered = start + timedelta(seconds=5) if talk is not None else None
    rec = CallRecord(
        call_id=f"out-{n}",
        node="n",
        direction="outbound",
        dialed=dialed,
        caller=caller,
        callee=Party(dialed),
        started_at=start,
        answered_at=answered,
        ended_at=(answered + timedelta(seconds=talk)) if answered and talk is not None else start,
        disposition="answered" if talk is not None else "premium_number",
        number_class=cls,
        cost=Decimal(cost) if cost is not None else None,
        **kw,
    )
    rec.legs.append(LegRecord("caller", rec.call_id, caller.number, started_at=start))
    return rec


def _ringing(
    n: int, caller: Party, dialed: str, legs: list[tuple[str, int | None, bool]], disposition: str,
    direction: str = "internal",
) -> CallRecord:  # fmt: skip
    """A call whose phones rang one after the other: (extension, rings at answer or None, ANS-1)."""
    start = T0 + timedelta(days=1, hours=n)
    rec = CallRecord(f"in-{n}", "n", direction, dialed, caller, started_at=start, disposition=disposition)
    rec.legs.append(LegRecord("caller", rec.call_id, caller.number, started_at=start))
    at = start
    for i, (ext, rings, late) in enumerate(legs):
        leg = LegRecord("callee", f"{rec.call_id}-{i}", ext, started_at=at, ringing_at=at)
        if rings is not None:
            leg.answered_at = at + timedelta(seconds=rings)
            leg.rings_at_answer = rings
            rec.answered_at = leg.answered_at
            rec.callee = {"1002": ZHAO, "8000": DESK, "2003": ZHOU}[ext]
        if late:
            person = PEOPLE[ext].person
            rec.violations.append(
                {"rule": "ANS-1", "extension": ext, "person": person, "reason": "not answered within 3 rings",
                 "fine_yuan": 0.0, "severity": "minor", "at": (at + timedelta(seconds=3)).isoformat()}
            )  # fmt: skip
        rec.legs.append(leg)
        at += timedelta(seconds=3)
    rec.ended_at = at + timedelta(seconds=10)
    return rec


def month_records() -> list[CallRecord]:
    return [
        _outside(1, WANG, "062345678", "local", 125, "0.33", budget="department:admin"),
        _outside(2, LIU, "01012345678", "national", 300, "3.50", matter="42", budget="person:liu.yang"),
        _outside(3, LIU, "13912345678", "mobile", 61, "0.22", budget="person:liu.yang"),
        _outside(4, ZHOU, "=1+1", "premium", None, None),  # refused: not billed, a formula-like dial
        _outside(5, CHEN, "062345679", "local", 30, None),  # answered, no tariff covered it
        # 1003 rings its limit out (ANS-1), the front desk answers at ring 1.
        _ringing(1, WANG, "1003", [("1003", None, True), ("8000", 1, False)], "answered"),
        # An outside caller reaches 1002, answered at ring 2.
        _ringing(2, Party("13800001111"), "1002", [("1002", 2, False)], "answered", direction="inbound"),
        # An outside caller gives up while 2003 rings.
        _ringing(3, Party("13800002222"), "2003", [("2003", None, False)], "abandoned", direction="inbound"),
        # 1003 rang its limit and nobody else answered either.
        _ringing(4, ZHOU, "1003", [("1003", None, True)], "no_answer"),
    ]


def other_month() -> CallRecord:
    rec = _outside(9, WANG, "062345670", "local", 600, "5.00")
    rec.call_id, rec.started_at = "october", datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    rec.answered_at, rec.ended_at = rec.started_at, rec.started_at + timedelta(minutes=10)
    return rec


async def _filled(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    await migrate(engine)
    await write_records(engine, [*month_records(), other_month()])
    return engine


async def test_month_is_read_whole_and_alone(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        calls = await read_month(engine, MONTH, UTC)
        assert len(calls) == 9 and "october" not in {c["call_id"] for c in calls}
        first = calls[0]
        assert first["cost"] == Decimal("0.3300") and first["budget"] == "department:admin"
        assert first["started_at"].tzinfo is not None
        rolled = next(c for c in calls if c["call_id"] == "in-1")
        assert [leg["number"] for leg in rolled["legs"]] == ["1001", "1003", "8000"]
        assert [v["rule"] for v in rolled["violations"]] == ["ANS-1"]
    finally:
        await engine.dispose()


def test_month_is_local_time() -> None:
    # A call at 23:30 UTC on 31 October is a November call in Beijing (UTC+8).
    from zoneinfo import ZoneInfo

    start, end = month_bounds("2026-11", ZoneInfo("Asia/Shanghai"))
    assert start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC) and end == datetime(
        2026, 11, 30, 16, 0, tzinfo=UTC
    )


async def test_bill_figures_are_exact(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        bill = monthly_bill(MONTH, await read_month(engine, MONTH, UTC), budgets=BUDGETS, people=PEOPLE)
    finally:
        await engine.dispose()
    assert (bill.total.calls, bill.total.cost, bill.total.unpriced) == (4, Decimal("4.05"), 1)
    assert bill.total.minutes == Decimal("8.6")  # 125 + 300 + 61 + 30 s
    admin, sales = bill.departments
    assert (admin.department, admin.total.calls, admin.total.cost) == ("admin", 2, Decimal("0.33"))
    assert admin.budget is not None and admin.budget.amount == Decimal("10")
    assert admin.budget.spent == Decimal("0.33") and admin.budget.used_pct == Decimal("3.3")
    [liu] = sales.people
    assert liu.person == "liu.yang" and liu.total.cost == Decimal("3.72")
    assert {c: (u.calls, u.cost) for c, u in liu.by_class.items()} == {
        "mobile": (1, Decimal("0.22")),
        "national": (1, Decimal("3.50")),
    }
    assert liu.budget is not None and liu.budget.used_pct == Decimal("93.0")
    assert [(c.dialed, c.matter) for c in bill.top_calls][:2] == [("01012345678", "42"), ("062345678", None)]
    assert all(isinstance(c.cost, Decimal | None) for c in bill.top_calls)
    text = bill_text(bill)
    assert "3.72 元" in text and "budget 4.00 元, used 93.0 %" in text and "matter 42" in text


async def test_one_departments_bill_keeps_the_whole_months_budget_use(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        bill = monthly_bill(MONTH, await read_month(engine, MONTH, UTC), department="sales", budgets=BUDGETS)
    finally:
        await engine.dispose()
    assert [d.department for d in bill.departments] == ["sales"]
    assert bill.total.cost == Decimal("3.72")
    # Only the budgets of sales and its people; the person's shows through the charge on record,
    # and the department's budget counts its people's calls too, as live enforcement does.
    assert [(b.key, b.spent) for b in bill.budgets] == [
        ("department:sales", Decimal("3.72")),
        ("person:liu.yang", Decimal("3.72")),
    ]


async def test_csv_opens_in_excel_with_chinese_names_and_no_formulas(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        calls = await read_month(engine, MONTH, UTC)
    finally:
        await engine.dispose()
    data = bill_csv(monthly_bill(MONTH, calls, people=PEOPLE))
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert "王丽 Wang Li" in text and "刘洋 Liu Yang" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["month", "department", "person"]
    liu = next(r for r in rows if r[2] == "liu.yang" and r[5] == "all")
    assert liu[6:9] == ["2", "6.0", "3.72"]
    for cell in ("=1+1", "+86", "-5", "@SUM(A1)", "\tx"):
        assert excel_safe(cell) == "'" + cell
    assert excel_safe("0.33") == "0.33" and excel_safe(None) == ""
    export = export_csv(calls)
    assert export.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(export.decode("utf-8-sig"))))
    dialled = parsed[0].index("dialed")
    assert "'=1+1" in [r[dialled] for r in parsed[1:]] and "=1+1" not in [r[dialled] for r in parsed[1:]]
    legs = json.loads(next(r for r in parsed if r[1] == "in-1")[parsed[0].index("legs")])
    assert [leg["number"] for leg in legs] == ["1001", "1003", "8000"]


async def test_html_bill_is_printable_self_contained_with_an_svg_chart(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        bill = monthly_bill(MONTH, await read_month(engine, MONTH, UTC), budgets=BUDGETS, people=PEOPLE)
    finally:
        await engine.dispose()
    page = bill_html(bill)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<svg" in page and "<rect" in page and "@media print" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<link" not in page
    assert "admin" in page and "sales" in page and "王丽 Wang Li" in page and "3.72 元" in page


async def test_compliance_figures_are_exact(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        report = compliance(MONTH, await read_month(engine, MONTH, UTC), budgets=BUDGETS, people=PEOPLE)
    finally:
        await engine.dispose()
    people = {p.key: p for p in report.people}
    chen = people["chen.jie"]
    # Two offers, both rung to the limit: 0 of 2 within the limit, 2 unanswered, 2 ANS-1.
    assert (chen.answering.offered, chen.answering.unanswered, chen.answering.answered) == (2, 2, 0)
    assert chen.answering.in_limit_rate == Decimal("0.000")
    # LOG-5's ladder: the first ANS-1 a verbal warning, the repeat a written one.
    assert chen.violations == {"ANS-1": {"verbal_warning": 1, "written_warning": 1}}
    desk = people["8000"].answering
    assert (desk.offered, desk.answered, desk.answered_in_limit, desk.average_rings) == (
        1,
        1,
        1,
        Decimal("1.00"),
    )
    zhao = people["zhao.min"].answering
    assert (zhao.offered, zhao.answered_in_limit, zhao.average_rings, zhao.in_limit_rate) == (
        1, 1, Decimal("2.00"), Decimal("1.000"),
    )  # fmt: skip
    zhou = people["zhou.qiang"]
    assert (zhou.answering.offered, zhou.answering.abandoned, zhou.answering.missed) == (1, 1, 1)
    assert zhou.answering.in_limit_rate is None  # the caller gave up before the limit: no chance
    assert zhou.outside_calls == 1 and zhou.outside.calls == 0  # the refused premium attempt
    liu = people["liu.yang"]
    assert (liu.outside_calls, liu.outside.calls, liu.outside.cost) == (2, 2, Decimal("3.72"))
    assert liu.budget is not None and liu.budget.used_pct == Decimal("93.0")
    depts = {d.key: d for d in report.departments}
    admin = depts["admin"].answering
    # Calls offered to admin: the rolled-over one (answered by the desk within its limit), the
    # one to 1002, and the unanswered one to 1003.
    assert (admin.offered, admin.answered, admin.answered_in_limit, admin.unanswered) == (3, 2, 2, 1)
    assert admin.average_rings == Decimal("1.50")
    sales = depts["sales"]
    assert (sales.answering.offered, sales.answering.abandoned) == (1, 1)
    assert (sales.outside_calls, sales.outside.calls, sales.outside.cost) == (3, 2, Decimal("3.72"))
    assert sum(sum(s.values()) for s in depts["admin"].violations.values()) == 2
    text = compliance_text(report)
    assert "陈杰 Chen Jie" in text and "rate 0.0 %" in text
    assert json.dumps(jsonable(report), ensure_ascii=False)  # a console can serve it as is


async def test_the_carrier_is_nobody_whose_answering_counts(tmp_path: Path) -> None:
    """LOG-6: an outside call's leg through the trunk rang the carrier's number, not a person."""
    call = _outside(7, WANG, "062345678", "local", 60, "0.22")
    call.legs.append(LegRecord("callee", "out-7-leg1", "62345678", ringing_at=call.started_at))
    call.legs[-1].answered_at = call.answered_at
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    try:
        await migrate(engine)
        await write_records(engine, [call])
        report = compliance(MONTH, await read_month(engine, MONTH, UTC), people=PEOPLE)
    finally:
        await engine.dispose()
    assert [p.key for p in report.people] == ["wang.li"]
    assert report.people[0].outside_calls == 1 and report.people[0].answering.offered == 0


async def test_overturned_violation_no_longer_counts(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(ViolationRow).where(ViolationRow.call_id == "in-4").values(status="overturned")
            )
        report = compliance(MONTH, await read_month(engine, MONTH, UTC), people=PEOPLE)
    finally:
        await engine.dispose()
    chen = next(p for p in report.people if p.key == "chen.jie")
    assert sum(chen.violations["ANS-1"].values()) == 1
    assert (chen.answering.unanswered, chen.answering.abandoned) == (1, 1)


async def test_export_jsonl_round_trip(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        calls = await read_month(engine, MONTH, UTC)
    finally:
        await engine.dispose()
    lines = export_jsonl(calls).decode("utf-8").splitlines()
    assert len(lines) == len(calls) == 9
    back = [json.loads(line) for line in lines]
    assert back == [jsonable(c) for c in calls]
    national = next(b for b in back if b["call_id"] == "out-2")
    assert (
        national["cost"] == "3.5000"
        and national["matter"] == "42"
        and national["caller_name"] == "刘洋 Liu Yang"
    )
    rolled = next(b for b in back if b["call_id"] == "in-1")
    assert [leg["rings_at_answer"] for leg in rolled["legs"]] == [None, None, 1]
    assert rolled["violations"][0]["rule"] == "ANS-1"


def test_whole_months_past_the_retention() -> None:
    now = datetime(2026, 11, 15, tzinfo=UTC)
    assert months_to_prune(now, 36, UTC) == "2023-10"
    assert months_to_prune(now, 1, UTC) == "2026-09"
    assert months_to_prune(datetime(2026, 1, 2, tzinfo=UTC), 1, UTC) == "2025-11"
    assert months_to_prune(now, 0, UTC) is None  # 0 = keep for ever


async def test_prune_writes_the_bill_first_and_keeps_violations_under_appeal(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    now = datetime(2027, 1, 5, tzinfo=UTC)
    try:
        async with engine.begin() as conn:  # 1003's first ANS-1 is appealed (LOG-5)
            await conn.execute(
                update(ViolationRow).where(ViolationRow.call_id == "in-1").values(status="appealed")
            )
            await conn.execute(
                update(ViolationRow)
                .where(ViolationRow.call_id == "in-4")
                .values(status="open", appeal_by=date(2026, 11, 20))  # the deadline has passed
            )
        dry = await prune(
            engine, now=now, retention_months=1, tz=UTC, bills_dir=tmp_path / "bills", dry_run=True
        )
        assert [(m.month, m.calls, m.kept) for m in dry.months] == [("2026-10", 1, 0), ("2026-11", 8, 1)]
        assert not (tmp_path / "bills").exists()
        assert len(await read_calls(engine, datetime(2000, 1, 1, tzinfo=UTC), now)) == 10
        done = await prune(engine, now=now, retention_months=1, tz=UTC, bills_dir=tmp_path / "bills")
        assert done.before == "2026-11"
        left = await read_calls(engine, datetime(2000, 1, 1, tzinfo=UTC), now)
        assert [c["call_id"] for c in left] == ["in-1"] and len(left[0]["legs"]) == 3
        assert left[0]["violations"][0]["status"] == "appealed"
        bill = (tmp_path / "bills" / "2026-11.csv").read_bytes().decode("utf-8-sig")
        assert "3.72" in bill and "刘洋 Liu Yang" in bill  # the bill of the calls now gone
        assert (tmp_path / "bills" / "2026-10.csv").exists()
        again = await prune(engine, now=now, retention_months=1, tz=UTC, bills_dir=tmp_path / "bills")
        assert [(m.month, m.calls, m.kept) for m in again.months] == [("2026-11", 0, 1)]
        assert "3.72" in (tmp_path / "bills" / "2026-11.csv").read_text(encoding="utf-8-sig")  # kept
        kept = sqlite3.connect(tmp_path / "calls.db")
        try:
            assert kept.execute("SELECT count(*) FROM call_legs").fetchone() == (3,)
            assert kept.execute("SELECT count(*) FROM violations").fetchone() == (1,)
        finally:
            kept.close()
    finally:
        await engine.dispose()


async def test_backup_is_a_database_with_every_record(tmp_path: Path) -> None:
    engine = await _filled(tmp_path)
    try:
        before = await read_calls(engine, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        # The service keeps its connection open (WAL) while the backup runs.
        assert backup_sqlite(tmp_path / "calls.db", tmp_path / "backup" / "copy.db") == 10
    finally:
        await engine.dispose()
    restored = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'backup' / 'copy.db'}")
    try:
        await migrate(restored)
        after = await read_calls(restored, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    finally:
        await restored.dispose()
    assert after == before


def test_cli_bill_report_export_backup_and_prune(
    tmp_path: Path, capsys: Any, set_zone: Callable[[str], None]
) -> None:
    """The commands as an administrator types them, on --db (no directory: records name people)."""
    import asyncio

    from callguard.cli import main

    # The commands take months in the machine's zone: here UTC, where "october" (23:00 on
    # 31 October) is still October; east of UTC+1 it is a November call (test_month_is_local_time).
    set_zone("UTC")
    asyncio.run(_dispose(_filled(tmp_path)))
    db = f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"
    assert (
        main(["bill", "--month", MONTH, "--db", db, "--format", "csv", "--out", str(tmp_path / "b.csv")]) == 0
    )
    rows = list(csv.reader(io.StringIO((tmp_path / "b.csv").read_text(encoding="utf-8-sig"))))
    assert [r for r in rows if r[:1] == [MONTH] and r[3] == "total"][0][6:9] == ["4", "8.6", "4.05"]
    assert main(["report", "--month", MONTH, "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    admin = next(d for d in report["departments"] if d["key"] == "admin")
    assert admin["answering"]["offered"] == 3 and admin["answering"]["in_limit_rate"] == "0.667"
    assert main(["export", "--month", MONTH, "--db", db, "--format", "jsonl"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 9
    assert main(["db", "backup", str(tmp_path / "copy.db"), "--db", db]) == 0
    assert "(10 calls)" in capsys.readouterr().out
    assert main(["db", "prune", "--db", db, "--months", "0"]) == 0
    assert "kept for ever" in capsys.readouterr().out
    assert main(["db", "prune", "--db", db, "--months", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert ("nothing to prune" in out or "would delete" in out) and not (tmp_path / "bills").exists()


async def _dispose(engine: Any) -> None:
    await (await engine).dispose()


def test_retention_setting_defaults_to_36_months_and_a_bad_one_is_one_clear_line(tmp_path: Path) -> None:
    from callguard.config import ConfigError, load_config
    from tests.unit.test_config import ENV, write

    assert load_config(write(tmp_path, ""), ENV).records.retention_months == 36
    assert (
        load_config(write(tmp_path, "[records]\nretention_months = 0\n"), ENV).records.retention_months == 0
    )
    path = write(tmp_path, "[records]\nretention_months = -1\n")
    try:
        load_config(path, ENV)
    except ConfigError as exc:
        [problem] = exc.problems
        assert problem.startswith(f"{path}: records.retention_months: ") and "\n" not in problem
    else:
        raise AssertionError("a negative retention was accepted")
