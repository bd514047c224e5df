"""LOG-1: calls the dialplan handled while callguard was down, from Asterisk's CDR.

cdr_custom appends one CSV row per call to `callguard.csv` (dialplan/cdr_custom.conf). The
importer reads on from where it stopped (a checkpoint in the database: file identity and byte
offset of the last complete row), keeps the rows the dialplan marked as handled alone, skips
calls already stored (recorded live, or imported before) and writes the rest, then moves the
checkpoint. A crash between the two only means the same rows are read again, and skipped."""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.dialplan_calls.mapping import DialplanCall, DialplanRecords, merge, parse_cdr_row
from callguard.records import CallRecord
from callguard.store.cdr import Checkpoint, load_checkpoint, save_checkpoint, stored_call_ids
from callguard.store.db import write_records

log = structlog.get_logger("callguard.cdr")

CHUNK = 1 << 20  # bytes read per transaction: a large file is imported in steps


@dataclass(frozen=True, slots=True)
class ImportResult:
    source: str
    rows: int  # rows read this time
    imported: int  # records written this time
    skipped: int  # calls of the dialplan already stored
    bad: int  # rows not in callguard's format


def _file_id(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}"


def _read_chunk(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines from `offset` (at most about CHUNK bytes) and the offset after them. A
    last line without its newline is still being written: it is read next time."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(CHUNK)
        if len(data) == CHUNK:  # finish the line the chunk cut
            data += f.readline()
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], offset
    return data[:end].decode("utf-8", errors="replace").splitlines(), offset + end


def parse_lines(lines: list[str]) -> tuple[dict[str, DialplanCall], int, int]:
    """The dialplan's calls in these CSV lines (rows of one call merged), rows, bad rows."""
    by_id: dict[str, list[DialplanCall]] = {}
    bad = 0
    for fields in csv.reader(lines):
        try:
            call = parse_cdr_row(fields)
        except ValueError:
            bad += 1
            continue
        if call is not None:
            by_id.setdefault(call.call_id, []).append(call)
    return {cid: merge(calls) for cid, calls in by_id.items()}, len(lines), bad


class CdrImporter:
    def __init__(
        self,
        engine: AsyncEngine,
        path: Path,
        records: DialplanRecords,
        node: str,
        emit: Callable[..., None],
        ensure_schema: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._engine = engine
        self._path = path
        self._records = records
        self._node = node
        self._emit = emit
        self._ensure_schema = ensure_schema
        # One source per node: nodes sharing a database each import their own Asterisk's CDR.
        self._source = f"{node}:{path}"
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._missing_reported = False

    # --- from the service: at start and at each ARI/AMI (re)connect ---------------------------

    def request(self) -> None:
        """Import soon, in the background; requests while one runs make one more run."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.ensure_future(self._background())

    async def _background(self) -> None:
        while True:
            self._again = False
            try:
                await self.import_once()
            except Exception as exc:  # noqa: BLE001 - retried at the next reconnect; the CDR stays
                log.warning("cdr.import_failed", source=str(self._path), error=repr(exc)[:300])
            if not self._again:
                return

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    # --- the import ----------------------------------------------------------------------------

    async def import_once(self) -> ImportResult | None:
        """Read the rows written since the last import. None: nothing to read (no file, or the
        database is not ready)."""
        async with self._lock:
            if self._ensure_schema is not None and not await self._ensure_schema():
                return None
            try:
                stat = self._path.stat()
            except OSError as exc:
                if not self._missing_reported:  # said once: CDR may simply not be set up yet
                    log.warning("cdr.file_missing", source=str(self._path), error=exc.strerror)
                    self._missing_reported = True
                return None
            self._missing_reported = False
            return await self._import_from(stat)

    async def _import_from(self, stat: os.stat_result) -> ImportResult:
        point = await load_checkpoint(self._engine, self._source)
        file_id = _file_id(stat)
        if point is None or point.file_id != file_id or point.offset > stat.st_size:
            # A new or rotated file: from its start (rows seen before are skipped as stored).
            point = Checkpoint(file_id, 0, point.rows if point else 0, point.imported if point else 0)
        rows = imported = skipped = bad = 0
        while True:
            lines, end = await asyncio.to_thread(_read_chunk, self._path, point.offset)
            if not lines:
                break
            calls, n_rows, n_bad = parse_lines(lines)
            written, n_skipped = await self._store(calls)
            rows, imported, skipped, bad = rows + n_rows, imported + written, skipped + n_skipped, bad + n_bad
            point = Checkpoint(file_id, end, point.rows + n_rows, point.imported + written)
            await save_checkpoint(self._engine, self._source, point)
        result = ImportResult(str(self._path), rows, imported, skipped, bad)
        if rows:
            log.info(
                "cdr.read",
                source=result.source,
                rows=rows,
                skipped=skipped,
                bad_rows=bad,
                offset=point.offset,
            )
            self._emit("cdr.imported", count=imported, rows=rows, source=result.source, rule="LOG-1")
        return result

    async def _store(self, calls: dict[str, DialplanCall]) -> tuple[int, int]:
        if not calls:
            return 0, 0
        known = await stored_call_ids(self._engine, self._node, calls)
        records: list[CallRecord] = [self._records.record(c) for cid, c in calls.items() if cid not in known]
        if records:
            await write_records(self._engine, records)
        return len(records), len(known)
