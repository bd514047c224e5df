"""The one writer task: records go to the database, or to a local journal while it is unreachable (LOG-2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.calls.records import CallRecord
from callguard.store.db import close_unobserved, migrate, write_records

log = structlog.get_logger("callguard.store")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


class RecordWriter:
    """`submit()` never blocks a call. Nothing is dropped: what the database refuses is journaled
    to disk and replayed, oldest first, once it accepts writes again."""

    def __init__(self, engine: AsyncEngine, journal: Path, retry_interval_s: float, label: str = "") -> None:
        self._engine = engine
        self._journal = journal
        self._retry_s = retry_interval_s
        self._label = label  # the database as logs may name it (no password)
        self._queue: asyncio.Queue[CallRecord] = asyncio.Queue()
        self._schema_ready = False
        # Alembic is not re-entrant, and two racing migrations half-create the schema.
        self._schema_lock = asyncio.Lock()
        self.written = 0

    async def _ensure_schema(self) -> bool:
        """Migrate once the database answers: it may be down when callguard starts."""
        async with self._schema_lock:
            if not self._schema_ready:
                try:
                    await migrate(self._engine)
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("store.unreachable", database=self._label, error=_first_line(exc))
                    return False
                self._schema_ready = True
                log.info("store.ready", database=self._label)
        return True

    def submit(self, record: CallRecord) -> None:
        self._queue.put_nowait(record)

    async def close_unobserved(self, node: str, still_open: set[str]) -> None:
        """After (re)connecting to Asterisk: close this node's open calls that are gone (LOG-1:
        a call that ended while callguard was down still leaves a record). Best effort: it runs
        again at the next reconnect if the database is away now."""
        if not await self._ensure_schema():
            return
        try:
            gone = await close_unobserved(self._engine, node, still_open)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("store.unreachable", database=self._label, error=_first_line(exc))
            return
        for call_id in gone:
            log.warning("store.call_unobserved", call_id=call_id)

    def journal_size(self) -> int:
        if not self._journal.exists():
            return 0
        return sum(1 for line in self._journal.read_text().splitlines() if line.strip())

    async def run(self) -> None:
        await self._ensure_schema()
        await self._replay()
        while True:
            try:
                record = await asyncio.wait_for(self._queue.get(), self._retry_s)
            except TimeoutError:
                await self._replay()
                continue
            batch = [record]
            while not self._queue.empty() and len(batch) < 100:
                batch.append(self._queue.get_nowait())
            if self._journal.exists():
                # Keep order: once anything waits in the journal, new records queue behind it.
                self._append(batch)
                await self._replay()
            else:
                await self._write_or_journal(batch)

    async def flush(self) -> None:
        """Write whatever is queued (at shutdown); unwritable records end in the journal."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._write_or_journal(batch)

    async def _write_or_journal(self, batch: list[CallRecord]) -> None:
        if not await self._ensure_schema():
            self._append(batch)
            log.error("store.journaled", count=len(batch), journal=str(self._journal))
            return
        try:
            await write_records(self._engine, batch)
            self.written += len(batch)
            for r in batch:
                log.info("store.written", call_id=r.call_id, disposition=r.disposition)
        except (SQLAlchemyError, OSError) as exc:
            self._append(batch)
            log.error(
                "store.journaled",
                count=len(batch),
                journal=str(self._journal),
                error=_first_line(exc),
            )

    def _append(self, batch: list[CallRecord]) -> None:
        self._journal.parent.mkdir(parents=True, exist_ok=True)
        with self._journal.open("a", encoding="utf-8") as fh:
            for record in batch:
                fh.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
            fh.flush()

    async def _replay(self) -> None:
        if not self._journal.exists() or not await self._ensure_schema():
            return
        lines = [line for line in self._journal.read_text(encoding="utf-8").splitlines() if line.strip()]
        records = []
        for line in lines:
            try:
                records.append(CallRecord.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                # Set aside, never deleted: an operator can still read it.
                with self._journal.with_suffix(".rejected").open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                log.error("store.journal_bad_line", error=str(exc), line=line[:200])
        try:
            if records:
                await write_records(self._engine, records)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("store.unreachable", journaled=len(records), error=_first_line(exc))
            return
        self._journal.unlink()
        self.written += len(records)
        log.info("store.replayed", count=len(records))
