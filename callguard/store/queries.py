"""Reads of the records (LOG-1, LOG-5, XFER-3) and SEC-1's blocklist table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callguard.policy import BlockEntry
from callguard.records import to_json
from callguard.store.ladder import violation_dict
from callguard.store.models import BlockRow, CallRow, MessageRow, ViolationRow
from callguard.store.rows import call_record, fit, iso, utc

_BLOCK_FIELDS = ("id", "pattern", "prefix", "reason", "added_by", "added_at", "until")
_MESSAGE_FIELDS = (
    *("id", "call_id", "for_ext", "for_person", "caller_number", "caller_name"),
    *("left_at", "duration_s", "recording", "done_at", "done_by"),
)


def _plain(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """A row as a JSON-ready dict of `fields`: times as ISO 8601 UTC."""
    out = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out


async def list_calls(
    engine: AsyncEngine, since: datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Calls newest first, each in the records' one JSON form (`records.codec`), with its legs.
    Violations and messages have their own listings (`list_violations`, `list_messages`)."""
    stmt = select(CallRow).order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(CallRow.started_at >= since)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        calls = [to_json(call_record(r)) for r in rows]
    for call in calls:
        del call["violations"], call["message"]  # not read here: an empty list would be a claim
    return calls


async def list_violations(
    engine: AsyncEngine, since: datetime | None = None, limit: int = 500, person: str | None = None
) -> list[dict[str, Any]]:
    """The violations ledger, newest first (LOG-5): with id, ladder step, status, appeal_by."""
    stmt = select(ViolationRow).order_by(ViolationRow.at.desc(), ViolationRow.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(ViolationRow.at >= since)
    if person is not None:
        stmt = stmt.where(ViolationRow.person == person)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [violation_dict(r) for r in rows]


async def add_block(engine: AsyncEngine, entry: BlockEntry, at: datetime | None = None) -> int:
    """Put a number or prefix on SEC-1's blocklist; returns the entry's id."""
    values = {
        "pattern": entry.pattern,
        "prefix": entry.prefix,
        "reason": entry.reason,
        "added_by": entry.added_by,
        "added_at": utc(at or datetime.now(UTC)),
        "until": utc(entry.until),
    }
    async with engine.begin() as conn:
        result = await conn.execute(insert(BlockRow).returning(BlockRow.id), [fit(BlockRow, values)])
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
    now = utc(at or datetime.now(UTC))
    stmt = select(BlockRow).where((BlockRow.until.is_(None)) | (BlockRow.until > now)).order_by(BlockRow.id)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [_plain(r, _BLOCK_FIELDS) for r in rows]


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
        return [_plain(r, _MESSAGE_FIELDS) for r in rows]


async def mark_message_done(engine: AsyncEngine, message_id: int, by: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id, MessageRow.done_at.is_(None))
            .values(fit(MessageRow, {"done_at": datetime.now(UTC), "done_by": by}))
        )
        return bool(result.rowcount)
