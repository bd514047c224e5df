"""Engine, migrations, writes and reads of call records."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    delete,
    event,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from callguard.files import create_private
from callguard.policy import BlockEntry
from callguard.policy.ladder import Ladder
from callguard.records import ENDED_UNOBSERVED, IN_PROGRESS, CallRecord, LegRecord
from callguard.store.ladder import insert_violations, violation_dict
from callguard.store.models import Base, BlockRow, CallRow, LegRow, MessageRow, ViolationRow

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            # Created 0600 before SQLite opens it; its -wal and -shm files take the same mode.
            # A folder that cannot be made now is the writer's to report (it retries).
            with contextlib.suppress(OSError):
                create_private(Path(path))
        engine = create_async_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets `calls list` read while the service writes; one writer task does the writing.
            # synchronous=FULL: each commit is on disk before the writer forgets the records
            # (LOG-2); NORMAL could lose the last commits to a power cut, and callguard cannot
            # re-create a finished call. The cost is one fsync per batch of up to 500 records.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _upgrade(connection: Connection) -> None:
    cfg = AlembicConfig(str(_ALEMBIC_INI))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


# Alembic keeps its migration context in a module global, and a migration awaits the database
# between its steps: two interleaved on one event loop (the writer retrying while another part
# migrates) corrupt each other ("KeyError: 'script'", half-made tables). One at a time per loop.
_MIGRATING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the current revision (Alembic), before the service loop starts."""
    lock = _MIGRATING.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _text(value: Any, size: int | None) -> Any:
    if value is None:
        return None
    # PostgreSQL refuses NUL in text; a caller ID or a name is untrusted input.
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "")
    return text[:size] if size else text


def _fit(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """Every string clipped to its column: an over-long caller ID, name or reason must not make
    the database refuse the whole record (LOG-1). The decisions (JSON) keep what the policy saw."""
    columns = model.__table__.columns
    out = {}
    for key, value in values.items():
        kind = columns[key].type
        out[key] = _text(value, kind.length) if isinstance(kind, String) else value
    return out


def _call_values(record: CallRecord) -> dict[str, Any]:
    callee = record.callee
    return _fit(
        CallRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "direction": record.direction,
            "dialed": record.dialed,
            "caller_number": record.caller.number,
            "caller_name": record.caller.name,
            "caller_department": record.caller.department,
            "caller_line": record.line,
            "callee_number": callee.number if callee else None,
            "callee_name": callee.name if callee else None,
            "callee_department": callee.department if callee else None,
            "started_at": _utc(record.started_at),
            "ringing_at": _utc(record.ringing_at),
            "answered_at": _utc(record.answered_at),
            "ended_at": _utc(record.ended_at),
            "talk_s": record.talk_s,
            "disposition": record.disposition,
            "hangup_cause": record.hangup_cause,
            "hangup_by": record.hangup_by,
            "decisions": record.decisions,
            "readopted": record.readopted,
            "number_class": record.number_class,
            "authorized_by": record.authorized_by,
            "matter": record.matter,
            "transfers": record.transfers or None,
            "cost": record.cost,  # LOG-4
            "tariff": record.tariff,
            "budget": record.budget,
            "handled_by": record.handled_by,  # LOG-1
        },
    )


def _violation_values(record: CallRecord, violation: dict[str, Any]) -> dict[str, Any]:
    at = violation.get("at")
    return _fit(
        ViolationRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "rule": violation["rule"],
            "extension": violation.get("extension") or record.caller.number,
            "person": violation.get("person"),
            "reason": violation.get("reason", ""),
            "fine_yuan": Decimal(str(violation.get("fine_yuan") or 0)),
            "severity": violation.get("severity", "minor"),
            "at": _utc(datetime.fromisoformat(at)) if at else _utc(record.ended_at or record.started_at),
        },
    )


def _leg_values(call_pk: int, leg: LegRecord) -> dict[str, Any]:
    return _fit(
        LegRow,
        {
            "call_pk": call_pk,
            "role": leg.role,
            "channel_id": leg.channel_id,
            "number": leg.number,
            "started_at": _utc(leg.started_at),
            "ringing_at": _utc(leg.ringing_at),
            "answered_at": _utc(leg.answered_at),
            "ended_at": _utc(leg.ended_at),
            "hangup_cause": leg.hangup_cause,
            "hangup_cause_text": leg.hangup_cause_text,
            "rings_at_answer": leg.rings_at_answer,
        },
    )


def _message_values(record: CallRecord) -> dict[str, Any]:
    message = record.message or {}
    return _fit(
        MessageRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "for_ext": message["for_ext"],
            "for_person": message.get("for_person"),
            "caller_number": message.get("caller_number") or "",
            "caller_name": message.get("caller_name"),
            "left_at": _utc(datetime.fromisoformat(message["left_at"])),
            "duration_s": message.get("duration_s"),
            "recording": message["recording"],
        },
    )


OPEN, UNOBSERVED = IN_PROGRESS, ENDED_UNOBSERVED
# A row with one of these dispositions is provisional: the call's final record replaces it.
PROVISIONAL = (OPEN, UNOBSERVED)

Key = tuple[str, str]  # (node, call_id): a call id is unique per Asterisk only


def _keyed(node: Any, call_id: Any, keys: Iterable[Key]) -> ColumnElement[bool]:
    """`(node, call_id) IN keys`, as one `call_id IN (...)` per node (portable to SQLite)."""
    by_node: dict[str, list[str]] = {}
    for n, cid in keys:
        by_node.setdefault(n, []).append(cid)
    return or_(false(), *(and_(node == n, call_id.in_(ids)) for n, ids in by_node.items()))


def _latest(records: list[CallRecord]) -> dict[Key, CallRecord]:
    latest: dict[Key, CallRecord] = {}
    for r in records:  # within a batch the last word on a call wins; "open" never beats final
        key = (r.node, r.call_id)
        if r.disposition != OPEN or key not in latest or latest[key].disposition == OPEN:
            latest[key] = r
    return latest


async def _delete_calls(conn: AsyncConnection, keys: list[Key]) -> None:
    calls = _keyed(CallRow.node, CallRow.call_id, keys)
    await conn.execute(delete(LegRow).where(LegRow.call_pk.in_(select(CallRow.id).where(calls))))
    await conn.execute(delete(CallRow).where(calls))
    await conn.execute(delete(ViolationRow).where(_keyed(ViolationRow.node, ViolationRow.call_id, keys)))
    await conn.execute(delete(MessageRow).where(_keyed(MessageRow.node, MessageRow.call_id, keys)))


async def write_records(engine: AsyncEngine, records: list[CallRecord], ladder: Ladder | None = None) -> None:
    """Store records in one short transaction (Core bulk inserts: the writer's hot path).
    Violations get their LOG-5 ladder step there (`ladder`: the configuration's, else defaults).

    A call's provisional row (written at its first decision) is replaced by a later snapshot
    (once it is authorised, OUT-3's register) and by its final record; a call already stored
    for good is skipped, so replaying the journal is safe. Calls are keyed by (node, call_id)."""
    latest = _latest(records)
    async with engine.begin() as conn:
        found = await conn.execute(
            select(CallRow.node, CallRow.call_id, CallRow.disposition).where(
                _keyed(CallRow.node, CallRow.call_id, latest)
            )
        )
        stored: dict[Key, str] = {(node, call_id): disposition for node, call_id, disposition in found}
        new = {
            key: r
            for key, r in latest.items()
            if key not in stored
            or stored[key] == OPEN
            or (stored[key] in PROVISIONAL and r.disposition != OPEN)
        }
        replaced = [key for key in new if key in stored]
        if replaced:
            await _delete_calls(conn, replaced)
        if not new:
            return
        rows = await conn.execute(
            insert(CallRow).returning(
                CallRow.id, CallRow.node, CallRow.call_id, sort_by_parameter_order=True
            ),
            [_call_values(r) for r in new.values()],
        )
        legs = [_leg_values(pk, leg) for pk, node, call_id in rows.all() for leg in new[(node, call_id)].legs]
        if legs:
            await conn.execute(insert(LegRow), legs)
        violations = [_violation_values(r, v) for r in new.values() for v in r.violations]
        if violations:
            await insert_violations(conn, violations, ladder or Ladder())
        messages = [_message_values(r) for r in new.values() if r.message]
        if messages:
            await conn.execute(insert(MessageRow), messages)


async def close_unobserved(engine: AsyncEngine, node: str, still_open: set[str]) -> list[str]:
    """Calls this node left open that no longer exist in Asterisk ended while no callguard
    watched: mark them so (their final record, if it still comes, replaces the mark)."""
    async with engine.begin() as conn:
        open_ids = set(
            (
                await conn.execute(
                    select(CallRow.call_id).where(CallRow.node == node, CallRow.disposition == OPEN)
                )
            ).scalars()
        )
        gone = sorted(open_ids - still_open)
        if gone:
            await conn.execute(
                update(CallRow)
                .where(CallRow.node == node, CallRow.call_id.in_(gone))
                .values(disposition=UNOBSERVED)
            )
        return gone


def _iso(value: datetime | None) -> str | None:
    # SQLite hands back naive datetimes; everything callguard stores is UTC.
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _money(value: Any) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.0001")))


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value and value.tzinfo else value


async def list_calls(
    engine: AsyncEngine, since: datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    stmt = select(CallRow).order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(CallRow.started_at >= _utc(since))
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [
            {
                "call_id": r.call_id,
                "node": r.node,
                "direction": r.direction,
                "dialed": r.dialed,
                "caller": {
                    "number": r.caller_number,
                    "name": r.caller_name,
                    "department": r.caller_department,
                },
                "line": r.caller_line,
                "callee": {
                    "number": r.callee_number,
                    "name": r.callee_name,
                    "department": r.callee_department,
                },
                "started_at": _iso(r.started_at),
                "ringing_at": _iso(r.ringing_at),
                "answered_at": _iso(r.answered_at),
                "ended_at": _iso(r.ended_at),
                "talk_s": r.talk_s,
                "disposition": r.disposition,
                "hangup_cause": r.hangup_cause,
                "hangup_by": r.hangup_by,
                "decisions": r.decisions,
                "readopted": r.readopted,
                "number_class": r.number_class,
                "authorized_by": r.authorized_by,
                "matter": r.matter,
                "transfers": r.transfers or [],
                "cost": _money(r.cost),  # LOG-4: "0.4400" (exact), or None
                "tariff": r.tariff,
                "budget": r.budget,
                "handled_by": r.handled_by,  # LOG-1: callguard | dialplan
                "legs": [
                    {
                        "role": leg.role,
                        "channel_id": leg.channel_id,
                        "number": leg.number,
                        "started_at": _iso(leg.started_at),
                        "ringing_at": _iso(leg.ringing_at),
                        "answered_at": _iso(leg.answered_at),
                        "ended_at": _iso(leg.ended_at),
                        "hangup_cause": leg.hangup_cause,
                        "hangup_cause_text": leg.hangup_cause_text,
                        "rings_at_answer": leg.rings_at_answer,
                    }
                    for leg in r.legs
                ],
            }
            for r in rows
        ]


async def list_violations(
    engine: AsyncEngine, since: datetime | None = None, limit: int = 500, person: str | None = None
) -> list[dict[str, Any]]:
    """The violations ledger, newest first (LOG-5): with id, ladder step, status, appeal_by."""
    stmt = select(ViolationRow).order_by(ViolationRow.at.desc(), ViolationRow.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(ViolationRow.at >= _utc(since))
    if person is not None:
        stmt = stmt.where(ViolationRow.person == person)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [violation_dict(r) for r in rows]


async def add_block(engine: AsyncEngine, entry: BlockEntry, at: datetime | None = None) -> int:
    """Put a number or prefix on SEC-1's blocklist; returns the entry's id."""
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(BlockRow).returning(BlockRow.id),
            [
                _fit(
                    BlockRow,
                    {
                        "pattern": entry.pattern,
                        "prefix": entry.prefix,
                        "reason": entry.reason,
                        "added_by": entry.added_by,
                        "added_at": _utc(at or datetime.now(UTC)),
                        "until": _utc(entry.until),
                    },
                )
            ],
        )
        return int(result.scalar_one())


async def remove_block(engine: AsyncEngine, what: str) -> int:
    """Remove entries by id or by pattern; returns how many went."""
    condition = BlockRow.pattern == what
    if what.isdigit() and len(what) < 9:  # an id, or a short number that is a pattern too
        condition = condition | (BlockRow.id == int(what))
    async with engine.begin() as conn:
        result = await conn.execute(delete(BlockRow).where(condition))
        return int(result.rowcount or 0)


async def list_blocks(engine: AsyncEngine, at: datetime | None = None) -> list[dict[str, Any]]:
    """Entries in force at `at` (default now), oldest first."""
    now = _utc(at or datetime.now(UTC))
    stmt = select(BlockRow).where((BlockRow.until.is_(None)) | (BlockRow.until > now)).order_by(BlockRow.id)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [
            {
                "id": r.id,
                "pattern": r.pattern,
                "prefix": r.prefix,
                "reason": r.reason,
                "added_by": r.added_by,
                "added_at": _iso(r.added_at),
                "until": _iso(r.until),
            }
            for r in rows
        ]


def block_entry(row: dict[str, Any]) -> BlockEntry:
    until = row.get("until")
    return BlockEntry(
        pattern=row["pattern"],
        prefix=bool(row["prefix"]),
        reason=row["reason"],
        added_by=row["added_by"],
        until=datetime.fromisoformat(until) if until else None,
    )


async def list_messages(
    engine: AsyncEngine, for_ext: str | None = None, include_done: bool = False
) -> list[dict[str, Any]]:
    """XFER-3: messages, oldest first; by default only those not yet passed on."""
    stmt = select(MessageRow).order_by(MessageRow.left_at, MessageRow.id)
    if for_ext:
        stmt = stmt.where(MessageRow.for_ext == for_ext)
    if not include_done:
        stmt = stmt.where(MessageRow.done_at.is_(None))
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [
            {
                "id": r.id,
                "call_id": r.call_id,
                "for_ext": r.for_ext,
                "for_person": r.for_person,
                "caller_number": r.caller_number,
                "caller_name": r.caller_name,
                "left_at": _iso(r.left_at),
                "duration_s": r.duration_s,
                "recording": r.recording,
                "done_at": _iso(r.done_at),
                "done_by": r.done_by,
            }
            for r in rows
        ]


async def mark_message_done(engine: AsyncEngine, message_id: int, by: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id, MessageRow.done_at.is_(None))
            .values(_fit(MessageRow, {"done_at": datetime.now(UTC), "done_by": by}))
        )
        return bool(result.rowcount)
