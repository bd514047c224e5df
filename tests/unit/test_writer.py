"""The record writer never loses a record (LOG-1/LOG-2): data errors are set aside without holding
up the rest, I/O errors keep records in memory, the journal is durable, streamed and private."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from callguard.config import ConfigError, load_config
from callguard.policy.ladder import Ladder
from callguard.records import CallRecord
from callguard.store import JournalInUse, RecordWriter, list_calls, make_engine, migrate
from callguard.store import writer as writer_module
from tests.records import answered_record
from tests.waiting import until


def undeliverable(call_id: str) -> CallRecord:
    """A record the store cannot write whatever its database: its message lacks the time and
    the recording (a bug upstream, say)."""
    rec = answered_record(call_id)
    rec.message = {"for_ext": "1002"}
    return rec


@asynccontextmanager
async def running(writer: RecordWriter) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(writer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()


async def sqlite(tmp_path: Path, name: str = "c.db") -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/{name}")
    await migrate(engine)
    return engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 1: a data error never blocks the queue -------------------------------------------------


async def test_a_record_the_database_refuses_is_set_aside_and_the_rest_is_written(tmp_path: Path) -> None:
    engine = await sqlite(tmp_path)
    alerts: list[tuple[str, dict[str, Any]]] = []
    journal = tmp_path / "j.jsonl"
    writer = RecordWriter(engine, journal, 0.05, on_alert=lambda e, **f: alerts.append((e, f)))
    with capture_logs() as logs:
        async with running(writer) as task:
            for rec in (answered_record("before"), undeliverable("bad"), answered_record("after")):
                writer.submit(rec)
            await until(lambda: writer.written == 2 and writer.rejected == 1)
            writer.submit(answered_record("later"))  # the queue still flows
            await until(lambda: writer.written == 3)
            assert not task.done()
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["after", "before", "later"]
    [line] = (tmp_path / "j.jsonl.rejected").read_text().splitlines()
    assert json.loads(line)["call_id"] == "bad" and mode(tmp_path / "j.jsonl.rejected") == 0o600
    assert not journal.exists()
    [rejected] = [e for e in logs if e["event"] == "store.record_rejected"]
    assert rejected["call_id"] == "bad" and rejected["log_level"] == "error"
    assert alerts == [("alert.record_rejected", {"call_id": "bad", "node": "n", "error": "'left_at'"})]
    await engine.dispose()


async def test_every_stored_string_is_clipped_to_its_column(tmp_path: Path) -> None:
    """SQLite does not enforce lengths, so this shows the clipping itself; PostgreSQL's refusal
    is in tests/integration/test_postgres.py."""
    engine = await sqlite(tmp_path)
    rec = answered_record("long")
    long = "x" * 500
    rec.caller = type(rec.caller)("8" * 90, long, long)
    rec.callee = type(rec.callee)("7" * 90, long, long) if rec.callee else None
    rec.line = "PJSIP/" + long
    rec.hangup_by, rec.authorized_by, rec.number_class = long, long, long
    rec.legs[0].hangup_cause_text = long
    rec.legs[0].number = "\x00" + "5" * 100
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 0.05)
    async with running(writer):
        writer.submit(rec)
        await until(lambda: writer.written == 1)
    [row] = await list_calls(engine)
    assert (len(row["caller"]["number"]), len(row["caller"]["name"]), len(row["caller"]["department"])) == (
        64,
        128,
        64,
    )
    assert len(row["callee"]["name"]) == 128 and len(row["line"]) == 64
    assert (len(row["hangup_by"]), len(row["authorized_by"]), len(row["number_class"])) == (16, 64, 16)
    assert len(row["legs"][0]["hangup_cause_text"]) == 128
    assert row["legs"][0]["number"] == "5" * 64  # NUL, which PostgreSQL refuses in text, is dropped
    await engine.dispose()


def test_directory_names_and_ids_longer_than_their_columns_are_refused(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text(f"""company = "Acme"
[[departments]]
id = "{"d" * 65}"
name = "{"部" * 129}"
[[people]]
id = "p"
name = "{"王" * 129}"
department = "{"d" * 65}"
[[lines]]
extension = "1001"
person = "p"
label = "{"l" * 129}"
""")
    path = tmp_path / "callguard.toml"
    path.write_text("")
    with pytest.raises(ConfigError) as exc:
        load_config(path, {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"})
    d = tmp_path / "directory.toml"
    assert exc.value.problems == [
        f"{d}: departments[0].id: String should have at most 64 characters",
        f"{d}: departments[0].name: String should have at most 128 characters",
        f"{d}: people[0].name: String should have at most 128 characters",
        f"{d}: lines[0].label: String should have at most 128 characters",
    ]


# --- 2: I/O errors: records wait in memory, bounded --------------------------------------------


async def test_database_down_and_journal_unwritable_keeps_records_in_memory(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    engine = await sqlite(db_dir)
    await engine.dispose()
    shutil.rmtree(db_dir)  # the database is gone
    journal = tmp_path / "journal"
    journal.mkdir()  # and the journal cannot be written, even by root
    writer = RecordWriter(engine, journal, 0.05)
    with capture_logs() as logs:
        async with running(writer) as task:
            for i in range(5):
                writer.submit(answered_record(f"m{i}"))
            await until(lambda: any(e["event"] == "store.journal_failed" for e in logs))
            await asyncio.sleep(0.3)  # several retries of both
            assert (writer.in_memory, writer.written, task.done()) == (5, 0, False)
            db_dir.mkdir()  # the database is back
            await until(lambda: writer.written == 5)
            assert (writer.in_memory, task.done()) == (0, False)
    assert sorted(r["call_id"] for r in await list_calls(engine)) == [f"m{i}" for i in range(5)]
    await engine.dispose()


async def test_past_the_memory_bound_the_oldest_are_dropped_loudly(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    engine = await sqlite(db_dir)
    await engine.dispose()
    shutil.rmtree(db_dir)
    (tmp_path / "journal").mkdir()
    alerts: list[str] = []
    writer = RecordWriter(
        engine, tmp_path / "journal", 0.05, on_alert=lambda e, **f: alerts.append(e), memory_max=3
    )
    with capture_logs() as logs:
        async with running(writer):
            for i in range(5):
                writer.submit(answered_record(f"m{i}"))
            assert (writer.in_memory, writer.dropped) == (3, 2)
            db_dir.mkdir()
            await until(lambda: writer.written == 3)
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["m2", "m3", "m4"]
    assert alerts == ["alert.records_dropped"]  # once, when dropping starts
    assert [e["event"] for e in logs if e["event"].startswith("store.drop")] == [
        "store.dropping",
        "store.dropped",
        "store.dropped",
    ]
    assert [e["call_id"] for e in logs if e["event"] == "store.dropped"] == ["m0", "m1"]
    await engine.dispose()


# --- 3: journal durability ------------------------------------------------------------------------


@asynccontextmanager
async def database_locked(engine: AsyncEngine, db: Path) -> AsyncIterator[None]:
    """Another process holds SQLite's write lock: reads work, writes fail (`database is locked`)."""
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def impatient(db: Path) -> AsyncEngine:
    return make_engine(f"sqlite+aiosqlite:///{db}", busy_timeout_s=0.05)


def journal_of(path: Path, records: list[CallRecord]) -> None:
    path.write_text("".join(json.dumps(r.as_json()) + "\n" for r in records))


async def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    engine = await sqlite(tmp_path)
    journal = tmp_path / "j.jsonl"
    torn = json.dumps(answered_record("torn").as_json())[:40]  # a crash mid-write
    journal.write_text(json.dumps(answered_record("whole").as_json()) + "\n" + torn)
    await engine.dispose()
    slow = impatient(tmp_path / "c.db")
    writer = RecordWriter(slow, journal, 0.05)
    async with database_locked(slow, tmp_path / "c.db"), running(writer):
        writer.submit(answered_record("next"))
        await until(lambda: writer.journal_size() == 3)
    lines = journal.read_text().splitlines()
    assert [json.loads(lines[i])["call_id"] for i in (0, 2)] == ["whole", "next"] and lines[1] == torn
    writer = RecordWriter(slow, journal, 0.05)
    async with running(writer):
        await until(lambda: writer.written == 2)
    assert sorted(r["call_id"] for r in await list_calls(slow)) == ["next", "whole"]
    assert (tmp_path / "j.jsonl.rejected").read_text() == torn + "\n"
    await slow.dispose()


async def test_an_unreadable_journal_line_is_set_aside_once_while_the_database_is_busy(
    tmp_path: Path,
) -> None:
    engine = await sqlite(tmp_path)
    await engine.dispose()
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"call_id": "garbage"\n' + json.dumps(answered_record("good").as_json()) + "\n")
    slow = impatient(tmp_path / "c.db")
    writer = RecordWriter(slow, journal, 0.02)
    with capture_logs() as logs:
        async with database_locked(slow, tmp_path / "c.db"), running(writer):
            await until(lambda: sum(e["event"] == "store.unreachable" for e in logs) >= 5)
        async with running(RecordWriter(slow, journal, 0.02)):
            await until(lambda: not journal.exists())
    assert (tmp_path / "j.jsonl.rejected").read_text() == '{"call_id": "garbage"\n'
    assert [e["event"] for e in logs].count("store.journal_bad_line") == 1
    assert [r["call_id"] for r in await list_calls(slow)] == ["good"]
    await slow.dispose()


class CountingWrites:
    """Wraps the store's write_records: the size of every transaction, and a failure to inject.
    With `hold_first`, the first write waits for `release` (`started` is set once it waits)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, fail_on: int | None = None, hold_first: bool = False
    ) -> None:
        self.sizes: list[int] = []
        self.fail_on = fail_on
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        self._real = writer_module.write_records
        monkeypatch.setattr(writer_module, "write_records", self)

    async def __call__(
        self, engine: AsyncEngine, records: list[CallRecord], ladder: Ladder | None = None
    ) -> None:
        self.started.set()
        await self.release.wait()
        if len(self.sizes) + 1 == self.fail_on:
            self.fail_on = None
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        await self._real(engine, records, ladder)
        self.sizes.append(len(records))


async def test_replay_streams_the_journal_in_bounded_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await sqlite(tmp_path)
    journal = tmp_path / "j.jsonl"
    journal_of(journal, [answered_record(f"r{i:04}") for i in range(1200)])
    writes = CountingWrites(monkeypatch)
    writer = RecordWriter(engine, journal, 0.05)
    async with running(writer):
        await until(lambda: not journal.exists(), timeout=60)
    assert writes.sizes == [500, 500, 200]
    assert len(await list_calls(engine, limit=5000)) == 1200
    await engine.dispose()


async def test_a_replay_cut_short_resumes_after_the_last_committed_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await sqlite(tmp_path)
    journal = tmp_path / "j.jsonl"
    journal_of(journal, [answered_record(f"r{i:04}") for i in range(1200)])
    writes = CountingWrites(monkeypatch, fail_on=2)  # the database goes away after one batch
    writer = RecordWriter(engine, journal, 30)
    async with running(writer):
        await until(lambda: writes.fail_on is None)
    assert writes.sizes == [500] and writer.journal_size() == 700
    # A new process (the first one crashed): it starts from the checkpoint, not from the top.
    writer = RecordWriter(engine, journal, 0.05)
    assert writer.journal_size() == 700
    async with running(writer):
        await until(lambda: not journal.exists(), timeout=60)
    assert writes.sizes == [500, 500, 200]
    assert len(await list_calls(engine, limit=5000)) == 1200
    await engine.dispose()


async def test_journal_appends_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    engine = await sqlite(db_dir)
    await engine.dispose()
    shutil.rmtree(db_dir)
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 0.05)
    async with running(writer):
        synced.clear()
        writer.submit(answered_record("x"))
        await until(lambda: writer.journal_size() == 1)
    assert len(synced) >= 2  # the file, and its folder when it was created


def test_two_writers_never_share_a_journal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    first = RecordWriter(engine, tmp_path / "j.jsonl", 1)
    with pytest.raises(JournalInUse) as exc:
        RecordWriter(engine, tmp_path / "j.jsonl", 1)
    assert str(exc.value) == (
        f"journal {tmp_path / 'j.jsonl'} is in use by another callguard process (pid {os.getpid()})"
    )
    first.close()
    RecordWriter(engine, tmp_path / "j.jsonl", 1).close()  # free again


# --- 4: where the files live, and who may read them ----------------------------------------------


async def test_files_with_caller_data_are_created_private(tmp_path: Path) -> None:
    old = os.umask(0)  # the mode must not depend on the umask
    try:
        engine = await sqlite(tmp_path / "state")
        db_dir = tmp_path / "gone"
        db_dir.mkdir()
        down = await sqlite(db_dir)
        await down.dispose()
        shutil.rmtree(db_dir)
        writer = RecordWriter(down, tmp_path / "state" / "j.jsonl", 0.05)
        async with running(writer):
            writer.submit(answered_record("x"))
            await until(lambda: writer.journal_size() == 1)
    finally:
        os.umask(old)
    state = tmp_path / "state"
    for name in ("c.db", "c.db-wal", "c.db-shm", "j.jsonl", "j.jsonl.lock"):
        assert mode(state / name) == 0o600, name
    await engine.dispose()


def test_relative_paths_resolve_in_the_state_directory(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text('company = "Acme"\n')
    path = tmp_path / "callguard.toml"
    path.write_text('[service]\nstate_dir = "/srv/cg"\n[log]\nfile = "logs/callguard.log"\n')
    env = {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
    config = load_config(path, env)
    assert config.service.state_dir == "/srv/cg"
    assert config.database.url == "sqlite+aiosqlite:////srv/cg/callguard.db"
    assert config.database.journal == "/srv/cg/callguard-journal.jsonl"
    assert config.log.file == "/srv/cg/logs/callguard.log"
    config = load_config(path, {**env, "CALLGUARD_STATE_DIR": str(tmp_path / "st")})
    assert config.database.journal == str(tmp_path / "st" / "callguard-journal.jsonl")
    path.write_text('[database]\nurl = "sqlite+aiosqlite:////abs/c.db"\njournal = "/abs/j"\n')
    config = load_config(path, env)
    assert (config.database.url, config.database.journal) == ("sqlite+aiosqlite:////abs/c.db", "/abs/j")
    assert config.service.state_dir == "/var/lib/callguard"
