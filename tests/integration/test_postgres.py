"""Call records on a real PostgreSQL: migrations, writes, and no record lost while it is down."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.lab.postgres import PgServer, throwaway_postgres
from callguard.policy import Party
from callguard.store import (
    RecordWriter,
    list_calls,
    list_messages,
    list_violations,
    make_engine,
    migrate,
    write_records,
)
from tests.records import answered_record
from tests.unit.test_store import upgrade_to
from tests.waiting import until


@pytest.fixture
def postgres() -> Iterator[PgServer]:
    with throwaway_postgres() as server:
        yield server


@contextlib.asynccontextmanager
async def running_writer(url: str, journal: Path) -> AsyncIterator[tuple[RecordWriter, AsyncEngine]]:
    engine = make_engine(url)
    writer = RecordWriter(engine, journal, retry_interval_s=0.2, label="pg")
    task = asyncio.create_task(writer.run())
    try:
        yield writer, engine
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
        await engine.dispose()


async def test_records_survive_a_postgres_outage(postgres: PgServer, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    async with running_writer(postgres.url, journal) as (writer, engine):
        writer.submit(answered_record("before").provisional())
        await until(lambda: writer.written == 1, timeout=20)
        writer.submit(answered_record("before"))  # the final record replaces the provisional one
        await until(lambda: writer.written == 2, timeout=20)

        postgres.stop()
        writer.submit(answered_record("during-1").provisional())
        writer.submit(answered_record("during-1"))
        writer.submit(answered_record("during-2"))
        await until(lambda: writer.journal_size() == 3, timeout=20)

        postgres.start()
        await until(lambda: not journal.exists(), timeout=20)
        rows = await list_calls(engine)
    assert sorted((r["call_id"], r["disposition"]) for r in rows) == [
        ("before", "answered"),
        ("during-1", "answered"),
        ("during-2", "answered"),
    ]
    row = next(r for r in rows if r["call_id"] == "during-2")
    assert row["talk_s"] == 10.0 and row["started_at"] == "2026-11-22T10:00:00+00:00"
    assert [leg["role"] for leg in row["legs"]] == ["caller", "callee"]
    assert row["caller"]["name"] == "王丽"


async def test_database_down_at_start_is_migrated_when_it_appears(postgres: PgServer, tmp_path: Path) -> None:
    """callguard may start before its database: records wait in the journal, then the schema is
    created and they are written."""
    postgres.stop()
    journal = tmp_path / "journal.jsonl"
    async with running_writer(postgres.url, journal) as (writer, engine):
        writer.submit(answered_record("early"))
        await until(lambda: writer.journal_size() == 1, timeout=20)
        postgres.start()
        await until(lambda: not journal.exists(), timeout=20)
        rows = await list_calls(engine)
    assert [r["call_id"] for r in rows] == ["early"]


async def test_long_strings_are_clipped_and_a_refused_record_is_set_aside(
    postgres: PgServer, tmp_path: Path
) -> None:
    """LOG-1: a caller ID or a name longer than its column reaches the database clipped; a record
    PostgreSQL refuses even so is set aside in <journal>.rejected while the records before and
    after it are written, and the queue goes on."""
    long = answered_record("long")
    long.caller = Party("8" * 84, "王" * 200, "d" * 100, person="p" * 100)
    long.callee = Party("9" * 90, "n" * 200, "e" * 100)
    long.line = "L" * 100
    long.authorized_by, long.matter, long.number_class, long.hangup_by = (
        "a" * 99,
        "m" * 99,
        "c" * 99,
        "h" * 99,
    )
    long.legs[0].number, long.legs[0].hangup_cause_text = "7" * 99, "t" * 300
    long.legs[1].channel_id = "PJSIP/" + "c" * 300
    long.violations = [
        {
            "rule": "OUT-4" * 9,
            "extension": "1" * 90,
            "person": "p" * 90,
            "reason": "r" * 900,
            "severity": "s" * 40,
        }
    ]
    long.message = {
        "for_ext": "1" * 40,
        "for_person": "p" * 90,
        "caller_number": "8" * 84,
        "caller_name": "王" * 200,
        "left_at": "2026-11-22T10:00:05+00:00",
        "recording": "/var/spool/" + "r" * 400,
    }
    bad = answered_record("bad")
    bad.hangup_cause = 2**40  # no Q.850 cause: PostgreSQL's integer column refuses it
    alerts: list[str] = []
    journal = tmp_path / "journal.jsonl"
    engine = make_engine(postgres.url)
    writer = RecordWriter(
        engine, journal, 0.2, on_alert=lambda event, **f: alerts.append(f"{event} {f['call_id']}")
    )
    task = asyncio.create_task(writer.run())
    try:
        for rec in (answered_record("before"), long, bad, answered_record("after")):
            writer.submit(rec)
        await until(lambda: writer.written == 3 and writer.rejected == 1, timeout=20)
        writer.submit(answered_record("later"))
        await until(lambda: writer.written == 4, timeout=20)
        assert not task.done()
        rows = {r["call_id"]: r for r in await list_calls(engine)}
        messages = await list_messages(engine)
        violations = await list_violations(engine)
    finally:
        task.cancel()
        writer.close()
        await engine.dispose()
    assert sorted(rows) == ["after", "before", "later", "long"]
    row = rows["long"]
    assert row["caller"] == {"number": "8" * 64, "name": "王" * 128, "department": "d" * 64}
    assert row["callee"]["name"] == "n" * 128 and row["line"] == "L" * 64 and row["matter"] == "m" * 16
    assert row["legs"][0]["hangup_cause_text"] == "t" * 128 and len(row["legs"][1]["channel_id"]) == 160
    assert [(v["rule"], len(v["reason"]), len(v["person"])) for v in violations] == [
        ("OUT-4OUT-4OUT-4O", 256, 64)
    ]
    assert [(len(m["recording"]), m["caller_name"]) for m in messages] == [(256, "王" * 128)]
    [rejected] = (tmp_path / "journal.jsonl.rejected").read_text().splitlines()
    assert json.loads(rejected)["call_id"] == "bad" and json.loads(rejected)["hangup_cause"] == 2**40
    assert alerts == ["alert.record_rejected bad"]
    assert not journal.exists()


async def test_the_same_call_id_on_two_nodes_is_two_calls_on_postgres(
    postgres: PgServer, tmp_path: Path
) -> None:
    engine = make_engine(postgres.url)
    try:
        await migrate(engine)
        for node in ("a", "b"):
            rec = answered_record("1700000000.42")
            rec.node, rec.line = node, f"line-{node}"
            rec.message = {
                "for_ext": "1002",
                "caller_number": "1001",
                "left_at": "2026-11-22T10:00:05+00:00",
                "recording": f"msg-{node}",
            }
            await write_records(engine, [rec.provisional()])
            await write_records(engine, [rec])
        rows = await list_calls(engine)
        messages = await list_messages(engine)
    finally:
        await engine.dispose()
    assert sorted((r["node"], r["disposition"], r["line"]) for r in rows) == [
        ("a", "answered", "line-a"),
        ("b", "answered", "line-b"),
    ]
    assert sorted(m["recording"] for m in messages) == ["msg-a", "msg-b"]


async def test_migration_0005_on_postgres_keeps_existing_records(postgres: PgServer) -> None:
    engine = make_engine(postgres.url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to, "0004")
            await conn.execute(
                text(
                    "INSERT INTO calls (call_id, node, direction, dialed, caller_number, disposition,"
                    " decisions, readopted) VALUES ('old', 'n1', 'internal', '1002', '1001', 'answered',"
                    " '[]', false)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (call_id, for_ext, caller_number, left_at, recording)"
                    " VALUES ('old', '1002', '1001', now(), 'r')"
                )
            )
        await migrate(engine)
        rec = answered_record("old")
        rec.node = "n2"
        rec.message = {"for_ext": "1002", "left_at": "2026-11-22T10:00:05+00:00", "recording": "r2"}
        await write_records(engine, [rec])
        async with engine.connect() as conn:
            nodes = sorted((await conn.execute(text("SELECT node FROM messages"))).scalars())
        rows = await list_calls(engine)
    finally:
        await engine.dispose()
    assert nodes == ["n1", "n2"]
    assert sorted(r["node"] for r in rows) == ["n1", "n2"]
