"""Call records on a real PostgreSQL: migrations, writes, and no record lost while it is down."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.lab.phones import free_udp_port
from callguard.store import RecordWriter, list_calls, make_engine
from tests.records import answered_record


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: `apt install postgresql` (scripts/setup does)")
    return found


class PgServer:
    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"postgresql+asyncpg://callguard@127.0.0.1:{port}/postgres"

    def _run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "callguard")

    def start(self) -> None:
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data / "log"),
            "-o",
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")


@pytest.fixture
def postgres() -> Iterator[PgServer]:
    # Not under pytest's tmp_path: its folders are private to root, and PostgreSQL runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="callguard-pg-"))
    os.chmod(base, 0o755)
    server = PgServer(base / "data", free_udp_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(base, ignore_errors=True)


async def _until(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@contextlib.asynccontextmanager
async def running_writer(url: str, journal: Path) -> AsyncIterator[tuple[RecordWriter, AsyncEngine]]:
    engine = make_engine(url)
    writer = RecordWriter(engine, journal, retry_interval_s=0.2, label="pg")
    task = asyncio.create_task(writer.run())
    try:
        yield writer, engine
    finally:
        task.cancel()
        await engine.dispose()


async def test_records_survive_a_postgres_outage(postgres: PgServer, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    async with running_writer(postgres.url, journal) as (writer, engine):
        writer.submit(answered_record("before").provisional())
        await _until(lambda: writer.written == 1)
        writer.submit(answered_record("before"))  # the final record replaces the provisional one
        await _until(lambda: writer.written == 2)

        postgres.stop()
        writer.submit(answered_record("during-1").provisional())
        writer.submit(answered_record("during-1"))
        writer.submit(answered_record("during-2"))
        await _until(lambda: writer.journal_size() == 3)

        postgres.start()
        await _until(lambda: not journal.exists())
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
        await _until(lambda: writer.journal_size() == 1)
        postgres.start()
        await _until(lambda: not journal.exists())
        rows = await list_calls(engine)
    assert [r["call_id"] for r in rows] == ["early"]
