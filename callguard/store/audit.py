"""The read audit (LOG-3): every read of records, append-only and hash-chained (migration 0010).

Each entry's hash is sha256(previous entry's hash + the entry in canonical JSON); `seq` is unique
and counts up from 1, so a second writer can never fork the chain (its insert fails) and a
changed, removed or reordered entry breaks every hash after it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from callguard.store.models import Base, UtcDateTime
from callguard.store.rows import aware

GENESIS = "0" * 64


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)  # "calls.list", "calls.refused"...
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class AuditEntry:
    account: str
    role: str
    action: str
    filters: dict[str, Any]
    count: int
    address: str
    at: datetime


_FIELDS = ("seq", "at", "account", "role", "action", "filters", "count", "address")


def _stamp(at: datetime) -> str:
    # One spelling so that the hash survives SQLite's round trip (it hands back naive UTC).
    return aware(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(values: dict[str, Any]) -> str:
    """The entry as hashed: its fields in sorted-key compact JSON, the time in UTC."""
    entry = {k: values[k] for k in _FIELDS}
    entry["at"] = _stamp(entry["at"])
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(values)).encode()).hexdigest()


def _json_safe(filters: dict[str, Any]) -> dict[str, Any]:
    # What is hashed must be what the JSON column gives back: dates, Decimals... as strings.
    safe: dict[str, Any] = json.loads(json.dumps(filters, default=str))
    return safe


# One writer at a time per event loop; PostgreSQL also takes a transaction lock for other processes.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_ATTEMPTS = 50
_PG_LOCK_KEY = 0x6361_6C6C  # "call": an arbitrary key for pg_advisory_xact_lock


async def _append(conn: AsyncConnection, entry: AuditEntry) -> dict[str, Any]:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = (
        await conn.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1))
    ).first()
    seq, prev = (int(last.seq) + 1, str(last.hash)) if last else (1, GENESIS)
    values = {
        "seq": seq,
        "at": entry.at.astimezone(UTC),
        "account": entry.account[:64],
        "role": entry.role[:16],
        "action": entry.action[:64],
        "filters": _json_safe(entry.filters),
        "count": entry.count,
        "address": entry.address[:64],
        "prev_hash": prev,
    }
    values["hash"] = chain_hash(prev, values)
    await conn.execute(insert(AuditRow), values)
    return values


async def append_entry(engine: AsyncEngine, entry: AuditEntry) -> dict[str, Any]:
    """Append one entry to the chain (serialized: two concurrent reads never fork it)."""
    lock = _LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        for attempt in range(_ATTEMPTS):
            try:
                async with engine.begin() as conn:
                    return await _append(conn, entry)
            except IntegrityError:
                # Another process took this seq (a second console on SQLite): the unique seq
                # refused the fork; read the new head and go on from there, after a short
                # random pause so that the two do not collide again in step.
                if attempt == _ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.02))
    raise AssertionError("unreachable")


def _row_values(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in (*_FIELDS, "id", "prev_hash", "hash")}


@dataclass(frozen=True)
class Verdict:
    count: int
    broken_id: int | None  # the id of the first entry whose link does not hold
    problem: str = ""
    head: str = GENESIS  # the last intact entry's hash: a removed tail shows against a copy kept elsewhere


async def verify_chain(engine: AsyncEngine, batch: int = 5000) -> Verdict:
    """Walk the chain from the start: every seq in turn, every hash recomputed."""
    prev, expected_seq, count = GENESIS, 1, 0
    async with engine.connect() as conn:
        while True:
            stmt = select(AuditRow).where(AuditRow.seq >= expected_seq).order_by(AuditRow.seq).limit(batch)
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return Verdict(count, None, head=prev)
            for row in rows:
                values = _row_values(row)
                if values["seq"] != expected_seq:
                    return Verdict(count, values["id"], f"entry seq {expected_seq} is missing", prev)
                if values["prev_hash"] != prev or chain_hash(prev, values) != values["hash"]:
                    return Verdict(
                        count, values["id"], "its hash does not match its content and predecessor", prev
                    )
                prev, expected_seq, count = values["hash"], expected_seq + 1, count + 1


async def list_entries(
    engine: AsyncEngine,
    account: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Entries newest first, for /audit (auditors and admins)."""
    stmt = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if account:
        stmt = stmt.where(AuditRow.account == account)
    if action:
        stmt = stmt.where(AuditRow.action.startswith(action))
    if since:
        stmt = stmt.where(AuditRow.at >= since)
    if until:
        stmt = stmt.where(AuditRow.at < until)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    out = []
    for row in rows:
        values = _row_values(row)
        values["at"] = _stamp(values["at"])
        out.append(values)
    return out
