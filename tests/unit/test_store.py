"""Records: JSON round trip, real SQLite writes, and the journal that keeps records while the
database is unreachable (POLICY LOG-2)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.policy.budgets import Budget
from callguard.records import CallRecord
from callguard.store import (
    RecordWriter,
    list_calls,
    list_messages,
    list_violations,
    make_engine,
    migrate,
    write_records,
)
from callguard.store.accounts import account_for_token, digest, list_tokens
from callguard.store.costs import month_spend
from callguard.store.db import _ALEMBIC_INI, close_unobserved
from callguard.store.sqlite_thread import writing_thread
from tests.records import answered_record


def record(call_id: str) -> CallRecord:
    return answered_record(call_id)


def upgrade_to(connection: Connection, revision: str) -> None:
    cfg = AlembicConfig(str(_ALEMBIC_INI))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def database_at(tmp_path: Path, revision: str, *rows: str) -> AsyncEngine:
    """A database of an earlier schema `revision`, holding `rows` (INSERT statements)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_to, revision)
        for row in rows:
            await conn.execute(text(row))
    return engine


def test_record_json_round_trip() -> None:
    rec = record("a")
    again = CallRecord.from_json(rec.as_json())
    assert again == rec and again.talk_s == 10.0


async def test_sqlite_write_and_list(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    await migrate(engine)  # idempotent
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 0.05)
    task = asyncio.create_task(writer.run())
    writer.submit(record("a"))
    writer.submit(record("a"))  # a replayed record is not stored twice
    for _ in range(100):
        if writer.written >= 2:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    [row] = await list_calls(engine)
    assert row["caller"] == {"number": "1001", "name": "王丽", "department": "admin"}
    assert row["talk_s"] == 10.0 and row["started_at"] == "2026-11-22T10:00:00+00:00"
    assert await list_calls(engine, since=datetime(2026, 11, 23, tzinfo=UTC)) == []
    await engine.dispose()


async def test_unreachable_database_journals_then_replays(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    engine = make_engine(f"sqlite+aiosqlite:///{db_dir}/c.db")
    await migrate(engine)
    await engine.dispose()
    journal = tmp_path / "journal.jsonl"
    writer = RecordWriter(engine, journal, 0.1)
    shutil.rmtree(db_dir)  # the database is gone: SQLite cannot open it
    task = asyncio.create_task(writer.run())
    writer.submit(record("x1"))
    writer.submit(record("x2"))
    for _ in range(100):
        if writer.journal_size() == 2:
            break
        await asyncio.sleep(0.02)
    assert writer.journal_size() == 2 and writer.written == 0
    db_dir.mkdir()
    await migrate(engine)  # it is back
    for _ in range(200):
        if not journal.exists():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["x1", "x2"]
    await engine.dispose()


async def test_a_provisional_record_is_replaced_by_the_final_one(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    early = record("p").provisional()
    early.legs = early.legs[:1]
    await write_records(engine, [early])
    [row] = await list_calls(engine)
    assert row["disposition"] == "in_progress" and len(row["legs"]) == 1
    await write_records(engine, [record("p")])
    await write_records(engine, [record("p").provisional()])  # a late provisional changes nothing
    [row] = await list_calls(engine)
    assert row["disposition"] == "answered" and [leg["role"] for leg in row["legs"]] == ["caller", "callee"]
    # Both in one batch: the final one wins.
    await write_records(engine, [record("q").provisional(), record("q")])
    assert {r["call_id"]: r["disposition"] for r in await list_calls(engine)} == {
        "p": "answered",
        "q": "answered",
    }
    await engine.dispose()


async def test_a_later_provisional_snapshot_replaces_the_first(tmp_path: Path) -> None:
    """LOG-1 / OUT-3: the snapshot taken at the decision is replaced by the one taken once the
    call is authorised, so a call that ends unobserved still shows who authorised it."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    await write_records(engine, [record("a").provisional()])
    authorised = record("a")
    authorised.authorized_by, authorised.matter = "wang.li", "42"
    await write_records(engine, [authorised.provisional()])
    [row] = await list_calls(engine)
    assert (row["disposition"], row["authorized_by"], row["matter"]) == ("in_progress", "wang.li", "42")
    # Within one batch too, and never over a final record.
    later = record("b")
    later.matter = "7"
    await write_records(engine, [record("b").provisional(), later.provisional()])
    await write_records(engine, [record("c"), record("c").provisional()])
    rows = {r["call_id"]: r for r in await list_calls(engine)}
    assert rows["b"]["matter"] == "7" and rows["c"]["disposition"] == "answered"
    await engine.dispose()


async def test_open_calls_that_vanished_are_closed_and_still_take_their_final_record(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    other_node = record("elsewhere").provisional()
    other_node.node = "other"
    await write_records(engine, [record("gone").provisional(), record("alive").provisional(), other_node])
    assert await close_unobserved(engine, "n", still_open={"alive"}) == ["gone"]
    dispositions = {r["call_id"]: r["disposition"] for r in await list_calls(engine)}
    assert dispositions == {"gone": "ended_unobserved", "alive": "in_progress", "elsewhere": "in_progress"}
    await write_records(engine, [record("gone")])  # its final record was only late
    assert {r["call_id"]: r["disposition"] for r in await list_calls(engine)}["gone"] == "answered"
    await engine.dispose()


async def test_outside_call_fields_and_violations_are_stored_once(tmp_path: Path) -> None:
    """LOG-5: a final record's violations land in the ledger once, also when the record is
    written again (journal replay) or replaces its provisional row; over-long untrusted
    strings are clipped to their column instead of failing the write."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    rec = record("v")
    rec.direction, rec.number_class, rec.authorized_by, rec.matter = "outbound", "national", "wang.li", "42"
    rec.dialed = "0" + "1" * 200
    rec.violations = [
        {
            "rule": "OUT-4",
            "extension": "1001",
            "person": "wang.li",
            "reason": "long",
            "fine_yuan": 0.0,
            "severity": "minor",
            "at": "2026-11-22T10:00:09+00:00",
        },
        {
            "rule": "OUT-2",
            "extension": "1001",
            "person": "wang.li",
            "reason": "class",
            "fine_yuan": 50.0,
            "severity": "minor",
            "at": "2026-11-22T10:00:01+00:00",
        },
    ]
    await write_records(engine, [rec.provisional()])  # violations known at routing time are kept
    assert len(await list_violations(engine)) == 2
    await write_records(engine, [rec])
    await write_records(engine, [CallRecord.from_json(rec.as_json())])  # replayed from the journal
    [row] = await list_calls(engine)
    assert (row["number_class"], row["authorized_by"], row["matter"]) == ("national", "wang.li", "42")
    assert row["dialed"] == rec.dialed[:64]
    ledger = await list_violations(engine)
    assert [(v["rule"], v["fine_yuan"]) for v in ledger] == [("OUT-4", 0.0), ("OUT-2", 50.0)]
    assert ledger[0]["at"] == "2026-11-22T10:00:09+00:00" and ledger[0]["call_id"] == "v"
    await engine.dispose()


def from_node(call_id: str, node: str, provisional: bool = False) -> CallRecord:
    rec = record(call_id)
    rec.node = node
    rec.message = {
        "for_ext": "1002",
        "caller_number": "1001",
        "left_at": "2026-11-22T10:00:05+00:00",
        "recording": f"msg-{node}",
    }
    rec.violations = [
        {"rule": "ANS-1", "extension": "1002", "reason": node, "at": "2026-11-22T10:00:05+00:00"}
    ]
    return rec.provisional() if provisional else rec


async def test_the_same_call_id_on_two_nodes_is_two_calls(tmp_path: Path) -> None:
    """A call id is unique per Asterisk only: records are keyed by (node, call_id)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    await write_records(engine, [from_node("1700.1", "a", provisional=True)])
    await write_records(engine, [from_node("1700.1", "b", provisional=True)])
    assert await close_unobserved(engine, "a", still_open=set()) == ["1700.1"]
    dispositions = {r["node"]: r["disposition"] for r in await list_calls(engine)}
    assert dispositions == {"a": "ended_unobserved", "b": "in_progress"}  # b's call is untouched
    final_b = from_node("1700.1", "b")
    final_b.line = "1001"
    await write_records(engine, [final_b])
    await write_records(engine, [from_node("1700.1", "a")])
    rows = {r["node"]: r for r in await list_calls(engine)}
    assert {n: r["disposition"] for n, r in rows.items()} == {"a": "answered", "b": "answered"}
    assert (rows["a"]["line"], rows["b"]["line"]) == (None, "1001")
    assert sorted(v["reason"] for v in await list_violations(engine)) == ["a", "b"]
    assert sorted(m["recording"] for m in await list_messages(engine)) == ["msg-a", "msg-b"]
    await engine.dispose()


async def test_migration_0005_keeps_the_records_of_0004(tmp_path: Path) -> None:
    """An existing database: its calls, violations and messages keep their node after 0005."""
    engine = await database_at(
        tmp_path,
        "0004",
        "INSERT INTO calls (id, call_id, node, direction, dialed, caller_number, disposition,"
        " decisions, readopted) VALUES (1, 'old', 'n1', 'internal', '1002', '1001', 'answered', '[]', 0)",
        "INSERT INTO messages (call_id, for_ext, caller_number, left_at, recording)"
        " VALUES ('old', '1002', '1001', '2026-11-22 10:00:00', 'r')",
    )
    await migrate(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT node FROM messages"))).scalar_one() == "n1"
    await write_records(engine, [from_node("old", "n2")])  # the same id elsewhere, message too
    assert sorted(m["call_id"] for m in await list_messages(engine)) == ["old", "old"]
    assert sorted(r["node"] for r in await list_calls(engine)) == ["n1", "n2"]
    await engine.dispose()


async def test_migrations_running_at_once_on_one_loop_do_not_corrupt_each_other(tmp_path: Path) -> None:
    """Alembic's context is a module global: the writer retrying its migration while another part
    of the process migrates must not interleave with it (LOG-2: the schema is always whole)."""
    engines = [make_engine(f"sqlite+aiosqlite:///{tmp_path}/{n}.db") for n in range(4)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        for engine in engines:
            assert await list_calls(engine) == [] and await list_violations(engine) == []
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_prompts_a_caller_heard_are_stored_in_order(tmp_path: Path) -> None:
    """Issue 9: the record keeps the prompts callguard played to the caller (migration 0013)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    rec = record("p")
    rec.prompts = ["greeting_admin", "target_unavailable", "message_saved"]
    assert CallRecord.from_json(rec.as_json()).prompts == rec.prompts
    await write_records(engine, [rec])
    [row] = await list_calls(engine)
    assert row["prompts"] == ["greeting_admin", "target_unavailable", "message_saved"]
    await engine.dispose()


async def test_the_months_spend_reads_only_the_priced_calls(tmp_path: Path) -> None:
    """LOG-4: the budget watcher sums the month every few seconds. Internal calls have no cost:
    the sum must come from migration 0014's partial indexes of priced calls, not from a walk
    of every call the department made this month (issue 12)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    internal = [record(f"i{n}") for n in range(50)]
    outside = record("o")
    outside.direction, outside.cost, outside.budget = "outbound", Decimal("0.3300"), "person:wang.li"
    await write_records(engine, [*internal, outside])
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    person = Budget("person", "wang.li", Decimal(10))
    department = Budget("department", "admin", Decimal(10))
    spend = await month_spend(engine, "2026-11", [person, department])
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert spend == {person.key: Decimal("0.33"), department.key: Decimal("0.33")}
    assert len(statements) == 2
    async with engine.connect() as conn:
        for statement, parameters in statements:
            plan = " ".join(
                str(row[-1])
                for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "USING INDEX ix_calls_priced_" in plan, plan
    await engine.dispose()


async def test_a_batch_is_written_whole_in_the_stores_sqlite_thread(tmp_path: Path) -> None:
    """Issue 12: a batch's transaction runs as one call in the store's SQLite thread, not as a hop
    to aiosqlite's thread and back for each statement. Every statement of the batches runs in
    that one thread; disposing the engine ends it, and a later write starts another."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    seen: list[tuple[str, str]] = []

    def executing(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append((threading.current_thread().name, statement.split()[0]))

    event.listen(Engine, "before_cursor_execute", executing)
    try:
        await write_records(engine, [record("a").provisional()])
        await write_records(engine, [record("a"), record("b")])  # a replaces its provisional row
    finally:
        event.remove(Engine, "before_cursor_execute", executing)
    threads = {name for name, _ in seen}
    assert len(threads) == 1 and threads.pop().startswith("callguard-sqlite"), seen
    assert {"SELECT", "DELETE", "INSERT"} <= {verb for _, verb in seen}
    assert {r["call_id"]: r["disposition"] for r in await list_calls(engine)} == {
        "a": "answered",
        "b": "answered",
    }
    await engine.dispose()
    assert not [t for t in threading.enumerate() if t.name.startswith("callguard-sqlite")]
    await write_records(engine, [record("c")])
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["a", "b", "c"]
    await engine.dispose()


async def test_the_writing_thread_stores_a_record_as_it_was_handed_over(tmp_path: Path) -> None:
    """The thread writes rows built when write_records was called: a call that changes its record
    while the batch waits for the thread does not tear the row (the record is the call's own)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    thread = writing_thread(engine)
    assert thread is not None
    gate = threading.Event()
    busy = asyncio.ensure_future(thread.transaction(lambda _conn: gate.wait(10)))
    rec = record("a")
    writing = asyncio.ensure_future(write_records(engine, [rec]))
    await asyncio.sleep(0.1)  # its batch now waits behind the busy transaction
    rec.disposition, rec.legs[1].number = "busy", "9999"
    gate.set()
    await asyncio.gather(busy, writing)
    [stored] = await list_calls(engine)
    assert stored["disposition"] == "answered"
    assert [leg["number"] for leg in stored["legs"]] == ["1001", "1002"]
    await engine.dispose()


async def test_migration_0015_gives_the_tokens_of_0014_the_default_lifetime(tmp_path: Path) -> None:
    """Tokens made before tokens ended keep working for 90 days from the upgrade, then stop."""
    engine = await database_at(
        tmp_path,
        "0014",
        "INSERT INTO accounts (id, username, role, password_hash, disabled, created_at)"
        " VALUES (1, 'zhao.min', 'finance', 'x', 0, '2026-01-01 00:00:00.000000')",
        "INSERT INTO api_tokens (id, account_id, name, token_hash, created_at)"
        f" VALUES (1, 1, 'erp', '{digest('cg_old')}', '2026-01-01 00:00:00.000000')",
    )
    await migrate(engine)
    [token] = await list_tokens(engine)
    lifetime = datetime.fromisoformat(str(token["expires_at"])) - datetime.now(UTC)
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)
    account = await account_for_token(engine, "cg_old")
    assert account is not None and account.username == "zhao.min"
    await engine.dispose()
