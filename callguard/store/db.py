"""Engine, migrations and writes of call records (reads: `store.queries`)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    event,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callguard.files import create_private
from callguard.policy.ladder import Ladder
from callguard.records import ENDED_UNOBSERVED, IN_PROGRESS, CallRecord
from callguard.store.ladder import insert_violations
from callguard.store.models import CallRow, LegRow, MessageRow, ViolationRow
from callguard.store.rows import call_values, leg_values, message_values, violation_values
from callguard.store.sqlite_thread import attach, writing_thread

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def make_engine(url: str, busy_timeout_s: float = 15.0) -> AsyncEngine:
    """`busy_timeout_s`: how long a SQLite statement waits for another process's lock."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout_s})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if path and path != ":memory:":
            # Created 0600 before SQLite opens it; its -wal and -shm files take the same mode.
            # A folder that cannot be made now is the writer's to report (it retries).
            with contextlib.suppress(OSError):
                create_private(Path(path))
            attach(engine, busy_timeout_s, _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Every SQLite connection, the asynchronous engine's and the writing thread's."""
    # WAL lets `calls list` read while the service writes (in its one writing thread).
    # synchronous=FULL: each commit is on disk before the writer forgets the records
    # (LOG-2); NORMAL could lose the last commits to a power cut, and callguard cannot
    # re-create a finished call. The cost is one fsync per batch of up to 500 records,
    # and the writer batches per [database] write_interval_ms: a few fsyncs a second
    # at 100 calls/s, so NORMAL would save little (issue 12).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


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


@dataclass(frozen=True)
class _Rows:
    """A record's rows, built on the event loop: the writing thread reads these, never a record
    that its call might still change."""

    disposition: str
    call: dict[str, Any]
    legs: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    message: dict[str, Any] | None


def _latest(records: list[CallRecord]) -> dict[Key, _Rows]:
    latest: dict[Key, CallRecord] = {}
    for r in records:  # within a batch the last word on a call wins; "open" never beats final
        key = (r.node, r.call_id)
        if r.disposition != OPEN or key not in latest or latest[key].disposition == OPEN:
            latest[key] = r
    return {
        key: _Rows(
            r.disposition,
            call_values(r),
            [leg_values(leg) for leg in r.legs],
            [violation_values(r, v) for v in r.violations],
            message_values(r) if r.message else None,
        )
        for key, r in latest.items()
    }


def _delete_calls(conn: Connection, keys: list[Key]) -> None:
    calls = _keyed(CallRow.node, CallRow.call_id, keys)
    conn.execute(delete(LegRow).where(LegRow.call_pk.in_(select(CallRow.id).where(calls))))
    conn.execute(delete(CallRow).where(calls))
    conn.execute(delete(ViolationRow).where(_keyed(ViolationRow.node, ViolationRow.call_id, keys)))
    conn.execute(delete(MessageRow).where(_keyed(MessageRow.node, MessageRow.call_id, keys)))


async def write_records(engine: AsyncEngine, records: list[CallRecord], ladder: Ladder | None = None) -> None:
    """Store records in one short transaction (Core bulk inserts: the writer's hot path).
    Violations get their LOG-5 ladder step there (`ladder`: the configuration's, else defaults).

    A call's provisional row (written at its first decision) is replaced by a later snapshot
    (once it is authorised, OUT-3's register) and by its final record; a call already stored
    for good is skipped, so replaying the journal is safe. Calls are keyed by (node, call_id).
    SQLite's transaction runs whole in its writing thread (store/sqlite_thread.py)."""
    latest, steps = _latest(records), ladder or Ladder()
    thread = writing_thread(engine)
    if thread is not None:
        await thread.transaction(_write, latest, steps)
        return
    async with engine.begin() as conn:
        await conn.run_sync(_write, latest, steps)


def _write(conn: Connection, latest: dict[Key, _Rows], ladder: Ladder) -> None:
    found = conn.execute(
        select(CallRow.node, CallRow.call_id, CallRow.disposition).where(
            _keyed(CallRow.node, CallRow.call_id, latest)
        )
    )
    stored: dict[Key, str] = {(node, call_id): disposition for node, call_id, disposition in found}
    new = {
        key: r
        for key, r in latest.items()
        if key not in stored or stored[key] == OPEN or (stored[key] in PROVISIONAL and r.disposition != OPEN)
    }
    replaced = [key for key in new if key in stored]
    if replaced:
        _delete_calls(conn, replaced)
    if not new:
        return
    rows = conn.execute(
        insert(CallRow).returning(CallRow.id, CallRow.node, CallRow.call_id, sort_by_parameter_order=True),
        [r.call for r in new.values()],
    )
    legs = [{**leg, "call_pk": pk} for pk, node, call_id in rows.all() for leg in new[(node, call_id)].legs]
    if legs:
        conn.execute(insert(LegRow), legs)
    violations = [v for r in new.values() for v in r.violations]
    if violations:
        insert_violations(conn, violations, ladder)
    messages = [r.message for r in new.values() if r.message is not None]
    if messages:
        conn.execute(insert(MessageRow), messages)


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
