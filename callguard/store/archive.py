"""Reading whole months of records, and the archive: backup and retention (POLICY LOG-2, LOG-4, LOG-6).

Rows come back as plain dicts of every column the models have (so columns other changes add,
cost, budget, step, status, reach bills and exports without edits here), with UTC-aware times."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callguard.store.models import Base, CallRow, LegRow, MessageRow, ViolationRow
from callguard.store.rows import aware

Row = dict[str, Any]


def parse_month(month: str) -> tuple[int, int]:
    """ "YYYY-MM" -> (year, month); a clear one-line error otherwise."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise ValueError(f"--month: {month!r} is not a month like 2026-11") from None
    return year, mon


def _local(year: int, month: int, tz: tzinfo | None) -> datetime:
    # tz None: the machine's zone, with its daylight saving rules (the PBX's local time).
    return datetime(year, month, 1, tzinfo=tz) if tz else datetime(year, month, 1).astimezone()


def month_bounds(month: str, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    """The month in the PBX's local time as a UTC interval [start, end): a call belongs to the
    month of its local start time."""
    year, mon = parse_month(month)
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return _local(year, mon, tz).astimezone(UTC), _local(*nxt, tz).astimezone(UTC)


def month_of(at: datetime, tz: tzinfo | None = None) -> str:
    return at.astimezone(tz).strftime("%Y-%m")


def _aware(value: Any) -> Any:
    return aware(value) if isinstance(value, datetime) else value


def _row(table: Table, row: Any) -> Row:
    mapping = row._mapping
    return {c.name: _aware(mapping[c]) for c in table.columns}


async def _calls_between(conn: AsyncConnection, start: datetime, end: datetime) -> list[Row]:
    table = CallRow.__table__
    assert isinstance(table, Table)
    stmt = (
        select(table)
        .where(table.c.started_at >= start, table.c.started_at < end)
        .order_by(table.c.started_at, table.c.id)
    )
    return [_row(table, r) for r in await conn.execute(stmt)]


async def _attach(conn: AsyncConnection, calls: list[Row]) -> None:
    """Each call gets its `legs`, `violations` and `message` (None) from their tables."""
    legs_t, viol_t, msg_t = LegRow.__table__, ViolationRow.__table__, MessageRow.__table__
    assert isinstance(legs_t, Table) and isinstance(viol_t, Table) and isinstance(msg_t, Table)
    by_pk = {c["id"]: c for c in calls}
    by_key = {(c["node"], c["call_id"]): c for c in calls}
    by_id = {c["call_id"]: c for c in calls}  # rows from before records were keyed by node
    for c in calls:
        c["legs"], c["violations"], c["message"] = [], [], None
    for chunk in _chunks(list(by_pk), 500):
        stmt = select(legs_t).where(legs_t.c.call_pk.in_(chunk)).order_by(legs_t.c.id)
        for r in await conn.execute(stmt):
            leg = _row(legs_t, r)
            by_pk[leg["call_pk"]]["legs"].append(leg)
    for chunk in _chunks(sorted({c["call_id"] for c in calls}), 500):
        stmt = select(viol_t).where(viol_t.c.call_id.in_(chunk)).order_by(viol_t.c.id)
        for r in await conn.execute(stmt):
            v = _row(viol_t, r)
            owner = by_key.get((v["node"], v["call_id"])) if v["node"] else by_id.get(v["call_id"])
            if owner is not None:
                owner["violations"].append(v)
        stmt = select(msg_t).where(msg_t.c.call_id.in_(chunk))
        for r in await conn.execute(stmt):
            m = _row(msg_t, r)
            owner = by_key.get((m["node"], m["call_id"]))
            if owner is not None:
                owner["message"] = m


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def read_calls(engine: AsyncEngine, start: datetime, end: datetime) -> list[Row]:
    """Every call that started in [start, end), oldest first, with its legs, violations and
    message: the one read that bills, reports, exports and prune share. The bounds may be in
    any zone (models.UtcDateTime compares them in UTC)."""
    async with engine.connect() as conn:
        calls = await _calls_between(conn, start, end)
        await _attach(conn, calls)
    return calls


async def read_month(engine: AsyncEngine, month: str, tz: tzinfo | None = None) -> list[Row]:
    start, end = month_bounds(month, tz)
    return await read_calls(engine, start, end)


# --- backup -------------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def backup_sqlite(source: Path, dest: Path) -> int:
    """A consistent copy of a live SQLite database (its online backup API: the service may go on
    writing meanwhile); returns the number of calls in the copy."""
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such database file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            (count,) = dst.execute("SELECT count(*) FROM calls").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    return int(count)


def pg_dump_command(url: str, dest: str) -> str:
    """What to run for a PostgreSQL database: pg_dump does its own consistent snapshot."""
    parsed = make_url(url)
    parts = ["pg_dump", "--format=custom", f"--file={dest}"]
    if parsed.host:
        parts.append(f"--host={parsed.host}")
    if parsed.port:
        parts.append(f"--port={parsed.port}")
    if parsed.username:
        parts.append(f"--username={parsed.username}")
    parts.append(parsed.database or "postgres")
    return " ".join(parts)


# --- retention ----------------------------------------------------------------------------------

# LOG-5: a violation whose appeal is pending, or that may still be appealed, is never pruned.
APPEALED, OPEN = "appealed", "open"


def months_to_prune(now: datetime, retention_months: int, tz: tzinfo | None = None) -> str | None:
    """The last month that is past the retention ("YYYY-MM"), or None (0 = keep for ever).
    Only whole months go: with 36 months kept in 2026-11, 2023-10 and older are pruned."""
    if retention_months <= 0:
        return None
    local = now.astimezone(tz)
    index = local.year * 12 + (local.month - 1) - retention_months - 1
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def under_appeal(violation: Row, now: datetime) -> bool:
    """True while a decision is pending or the appeal deadline has not passed (LOG-5)."""
    status = violation.get("status")
    if status == APPEALED:
        return True
    if status == OPEN:
        deadline = violation.get("appeal_by")
        if deadline is None:
            return False
        if isinstance(deadline, datetime):
            return bool(_aware(deadline) >= now)
        if isinstance(deadline, date):
            return deadline >= now.date()
    return False


@dataclass
class PruneMonth:
    month: str
    calls: int = 0  # calls deleted (or that would be)
    kept: int = 0  # calls kept because a violation of theirs is under appeal
    bill: str | None = None  # the bill written before deleting


@dataclass
class PruneResult:
    before: str | None  # months up to and including this one were pruned
    months: list[PruneMonth] = field(default_factory=list)


async def oldest_start(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        value = (
            await conn.execute(select(CallRow.started_at).order_by(CallRow.started_at).limit(1))
        ).scalar()
    return _aware(value) if value is not None else None


async def delete_calls(engine: AsyncEngine, calls: list[Row]) -> None:
    """Delete these calls with their legs, violations and messages, in one transaction."""
    events = Base.metadata.tables.get("violation_events")  # LOG-5's history, when it exists
    async with engine.begin() as conn:
        if events is not None:
            ids = [v["id"] for c in calls for v in c.get("violations", [])]
            for chunk in _chunks(ids, 500):
                await conn.execute(delete(events).where(events.c.violation_id.in_(chunk)))
        for chunk in _chunks([c["id"] for c in calls], 500):
            await conn.execute(delete(LegRow).where(LegRow.call_pk.in_(chunk)))
            await conn.execute(delete(CallRow).where(CallRow.id.in_(chunk)))
        for c in calls:
            await conn.execute(
                delete(ViolationRow).where(
                    ViolationRow.node == c["node"], ViolationRow.call_id == c["call_id"]
                )
            )
            await conn.execute(
                delete(MessageRow).where(MessageRow.node == c["node"], MessageRow.call_id == c["call_id"])
            )
