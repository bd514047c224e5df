"""The writer gathers records for `write_interval_s` before a transaction (issue 12): one write per
window instead of one per call event, a call's provisional and final record collapse into one row,
and nothing waiting in a window is lost at shutdown or while the database is away (LOG-1/LOG-2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callguard.records import CallRecord
from callguard.store import RecordWriter, list_calls
from tests.records import answered_record
from tests.unit.test_writer import CountingWrites, database_locked, impatient, running, sqlite, until


def provisional(call_id: str) -> CallRecord:
    """The record a call leaves at its first decision (LOG-1), before its final one."""
    return answered_record(call_id).provisional()


async def test_a_provisional_and_a_final_record_in_one_window_are_one_write_of_one_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await sqlite(tmp_path)
    writes = CountingWrites(monkeypatch)
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 30, write_interval_s=1.0)
    with capture_logs() as logs:
        async with running(writer):
            writer.submit(answered_record("c0"))  # at start: written at once (no window yet)
            await until(lambda: writer.written == 1)
            writer.submit(provisional("c1"))
            await asyncio.sleep(0.05)  # the writer is awake: without a window it writes this one alone
            assert writes.sizes == [1]
            writer.submit(answered_record("c1"))
            writer.submit(answered_record("c2"))
            await until(lambda: writer.written == 4)
    assert writes.sizes == [1, 3]  # one transaction for the window
    # One log line a transaction, naming each call with what was stored of it.
    written = [(e["records"], e["calls"]) for e in logs if e["event"] == "store.written"]
    assert written == [(1, {"c0": "answered"}), (3, {"c1": "answered", "c2": "answered"})]
    rows = sorted((r["call_id"], r["disposition"]) for r in await list_calls(engine))
    assert rows == [("c0", "answered"), ("c1", "answered"), ("c2", "answered")]
    await engine.dispose()


async def test_a_record_alone_in_its_window_is_still_written(tmp_path: Path) -> None:
    engine = await sqlite(tmp_path)
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 30, write_interval_s=0.2)
    async with running(writer):
        writer.submit(provisional("alone"))
        await until(lambda: writer.written == 1)  # no later record, no retry interval needed
    assert [(r["call_id"], r["disposition"]) for r in await list_calls(engine)] == [("alone", "in_progress")]
    await engine.dispose()


async def test_records_waiting_in_a_window_are_written_at_shutdown(tmp_path: Path) -> None:
    engine = await sqlite(tmp_path)
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 30, write_interval_s=60)
    task = asyncio.create_task(writer.run())
    writer.submit(answered_record("o"))  # at start: written at once
    await until(lambda: writer.written == 1)
    writer.submit(provisional("p"))
    writer.submit(answered_record("q"))
    await asyncio.sleep(0.05)  # the writer waits in its window
    assert writer.written == 1
    task.cancel()  # what the service does on SIGTERM, before flush()
    await asyncio.gather(task, return_exceptions=True)
    await writer.flush()
    writer.close()
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["o", "p", "q"]
    await engine.dispose()


async def test_records_whose_window_ends_while_the_database_is_away_are_journaled_in_order(
    tmp_path: Path,
) -> None:
    engine = await sqlite(tmp_path)
    await engine.dispose()
    slow = impatient(tmp_path / "c.db")
    journal = tmp_path / "j.jsonl"
    writer = RecordWriter(slow, journal, 0.05, write_interval_s=0.2)
    async with running(writer):
        writer.submit(answered_record("a"))
        await until(lambda: writer.written == 1)
        async with database_locked(slow, tmp_path / "c.db"):  # the database stops taking writes
            for call_id in ("b", "c", "d"):
                writer.submit(answered_record(call_id))
            await until(lambda: writer.journal_size() == 3)
            assert [json.loads(line)["call_id"] for line in journal.read_text().splitlines()] == [
                "b",
                "c",
                "d",
            ]
        await until(lambda: writer.written == 4)  # back: replayed
    assert not journal.exists()
    assert sorted(r["call_id"] for r in await list_calls(slow)) == ["a", "b", "c", "d"]
    await slow.dispose()


async def test_records_that_come_during_a_write_wait_for_the_next_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load records come while the last window is being written: they are the next
    window's, not a transaction of their own at once (that was 30-60 commits a second at
    100 calls/s instead of ~10, issue 12)."""
    engine = await sqlite(tmp_path)
    writes = CountingWrites(monkeypatch, hold_first=True)
    writer = RecordWriter(engine, tmp_path / "j.jsonl", 30, write_interval_s=1.0)
    async with running(writer):
        writer.submit(answered_record("first"))
        await writes.started.wait()
        writer.submit(answered_record("during-1"))
        writer.submit(answered_record("during-2"))
        writes.release.set()
        await until(lambda: writer.written == 1)
        await asyncio.sleep(0.1)  # well inside the next window
        assert writes.sizes == [1]
        await until(lambda: writer.written == 3)
    assert writes.sizes == [1, 2]
    assert sorted(r["call_id"] for r in await list_calls(engine)) == ["during-1", "during-2", "first"]
    await engine.dispose()
