"""The one writer task: records go to the database, or to a local journal while it is unreachable (LOG-2)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.metrics import RECORDS_WRITTEN
from callguard.policy.ladder import Ladder
from callguard.records import CallRecord
from callguard.store.db import close_unobserved, migrate, write_records
from callguard.store.journal import Journal, JournalInUse

log = structlog.get_logger("callguard.store")

BATCH = 500  # records per transaction, written or replayed

# The database is away (or its schema is): retry later. Any other error is the record's own
# (IntegrityError, DataError, a value the driver cannot send): it must not hold up the rest.
_UNREACHABLE = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    ProgrammingError,
    InternalError,
    OSError,
    TimeoutError,
)

Alert = Callable[..., Any]  # on_alert(event_name, **fields): the Emitter (log + MQTT)

__all__ = ["BATCH", "JournalInUse", "RecordWriter"]


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _line(record: CallRecord) -> str:
    # default=str: an odd value in the decisions must not make the record unwritable anywhere.
    return json.dumps(record.as_json(), ensure_ascii=False, default=str)


class RecordWriter:
    """`submit()` never blocks a call. Records are written to the database in order; while it is
    unreachable they go to the journal (fsync'd) and are replayed, oldest first, when it is back;
    while the journal cannot be written either they wait in memory (at most `memory_max`, then
    the oldest are dropped, loudly). A record the database refuses as data is set aside in
    `<journal>.rejected` and everything else is still written. The writer never dies of I/O."""

    def __init__(
        self,
        engine: AsyncEngine,
        journal: Path,
        retry_interval_s: float,
        label: str = "",
        on_alert: Alert | None = None,
        memory_max: int = 100_000,
        ladder: Ladder | None = None,
        write_interval_s: float = 0.0,
    ) -> None:
        self._engine = engine
        # How long a record may wait for others before its transaction: one per call event costs
        # the database more than the records themselves (see `_gather`).
        self._interval_s = write_interval_s
        self._ladder = ladder  # LOG-5: the configuration's ladder steps violations as they are stored
        self._journal = Journal(journal)
        self._retry_s = retry_interval_s
        self._label = label  # the database as logs may name it (no password)
        self._alert = on_alert
        self._memory_max = memory_max
        self._pending: deque[CallRecord] = deque()  # in memory: neither in the database nor journaled
        self._wake = asyncio.Event()
        self._schema_ready = False
        # Alembic is not re-entrant, and two racing migrations half-create the schema.
        self._schema_lock = asyncio.Lock()
        self._journal_failing = False
        self._dropping = False
        self.written = 0
        self.rejected = 0
        self.dropped = 0
        try:
            self._journal.lock()  # JournalInUse: refuse to start (the caller says so)
        except OSError as exc:
            # No lock file (a read-only or missing state directory): run on; records wait in memory.
            log.error("store.journal_unlocked", journal=str(journal), error=_first_line(exc))

    def close(self) -> None:
        """Release the journal's lock (the process's exit does too)."""
        self._journal.unlock()

    # --- what the service calls --------------------------------------------------------

    def submit(self, record: CallRecord) -> None:
        self._pending.append(record)
        if len(self._pending) > self._memory_max:
            self._drop_oldest()
        self._wake.set()

    def journal_size(self) -> int:
        """Records in the journal not yet in the database."""
        try:
            return self._journal.pending_lines()
        except OSError:
            return 0

    @property
    def in_memory(self) -> int:
        return len(self._pending)

    async def ensure_schema(self) -> bool:
        """True once the schema is current (migrated by this writer, never twice at once)."""
        return await self._ensure_schema()

    async def close_unobserved(self, node: str, still_open: set[str]) -> list[str]:
        """After (re)connecting to Asterisk: close this node's open calls that are gone (LOG-1:
        a call that ended while callguard was down still leaves a record), and name them. Best
        effort: it runs again at the next reconnect if the database is away now."""
        if not await self._ensure_schema():
            return []
        try:
            gone = await close_unobserved(self._engine, node, still_open)
        except Exception as exc:  # noqa: BLE001 - best effort, see above
            log.warning("store.unreachable", database=self._label, error=_first_line(exc))
            return []
        for call_id in gone:
            log.warning("store.call_unobserved", call_id=call_id, node=node)
        return gone

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                healthy = await self._cycle()
            except Exception as exc:  # noqa: BLE001 - the writer outlives any bug: records stay queued
                log.exception("store.writer_error", error=_first_line(exc))
                healthy = False
            if healthy:
                await self._sleep(self._retry_s)
                await self._gather()
            else:
                await self._wait_retry()

    async def flush(self) -> None:
        """At shutdown: write what is queued, else journal it; say loudly what is lost."""
        if not self._pending:
            return
        if not self._journal.has_records() and await self._ensure_schema():
            await self._write_pending()
        self._spill()
        if self._pending:
            log.error(
                "store.dropping",
                reason="shutdown: neither the database nor the journal took them",
                count=len(self._pending),
                call_ids=[r.call_id for r in self._pending],
            )

    # --- the loop ----------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _gather(self) -> None:
        """A record has come: let the ones that follow within `write_interval_s` join its
        transaction (a call's provisional and final record in one window collapse into one row).
        LOG-1: a record is in the database at most this long after `submit()`, plus the write
        under way when it came and its own;
        a shutdown flushes what waits (`flush`), only a crash (SIGKILL) loses the window."""
        if self._wake.is_set() and self._interval_s > 0:
            await asyncio.sleep(self._interval_s)

    async def _wait_retry(self) -> None:
        """The database is away: journal new records as they come; retry it after `retry_s`."""
        deadline = time.monotonic() + self._retry_s
        while (left := deadline - time.monotonic()) > 0:
            await self._sleep(left)
            self._wake.clear()
            self._spill()

    async def _cycle(self) -> bool:
        """One round: the journal first (older records), then what waits in memory. True when
        everything is in the database."""
        if not await self._ensure_schema():
            self._spill()
            return False
        if not await self._replay():
            self._spill()
            return False
        # Only what waited in this window: records that come while it is written wait for the
        # next window. Writing them at once, in a transaction of their own, had the writer commit
        # 30-60 times a second at 100 calls/s, a few records each, instead of ~10 (issue 12).
        return await self._write_pending(len(self._pending))

    async def _ensure_schema(self) -> bool:
        """Migrate once the database answers: it may be down when callguard starts."""
        async with self._schema_lock:
            if not self._schema_ready:
                try:
                    await migrate(self._engine)
                except Exception as exc:  # noqa: BLE001 - unreachable, or not ours to fix: retry
                    log.warning("store.unreachable", database=self._label, error=_first_line(exc))
                    return False
                self._schema_ready = True
                log.info("store.ready", database=self._label)
        return True

    async def _write_pending(self, count: int | None = None) -> bool:
        """Write the first `count` records waiting in memory (all of them by default)."""
        left = len(self._pending) if count is None else count
        while left > 0 and self._pending:
            batch = [self._pending.popleft() for _ in range(min(BATCH, left, len(self._pending)))]
            handled = 0

            def done(n: int) -> None:
                nonlocal handled
                handled = n

            try:
                ok = await self._store(batch, done)
            finally:  # also when cancelled mid-write: nothing taken out is forgotten
                self._pending.extendleft(reversed(batch[handled:]))
            left -= handled
            if not ok:
                self._spill()
                return False
        self._dropping = False
        return True

    def _spill(self) -> None:
        """Memory → journal (durable), keeping order; on failure they stay in memory."""
        if not self._pending:
            return
        records = list(self._pending)
        try:
            self._journal.append([_line(r) for r in records])
        except OSError as exc:
            if not self._journal_failing:
                log.error(
                    "store.journal_failed",
                    journal=str(self._journal.path),
                    error=_first_line(exc),
                    in_memory=len(records),
                )
            self._journal_failing = True
            return
        for _ in records:
            self._pending.popleft()
        self._journal_failing = False
        self._dropping = False
        log.error("store.journaled", count=len(records), journal=str(self._journal.path))

    def _drop_oldest(self) -> None:
        record = self._pending.popleft()
        self.dropped += 1
        if not self._dropping:
            self._dropping = True
            log.error(
                "store.dropping",
                reason="database and journal unwritable; memory queue full",
                memory_queue_max=self._memory_max,
                journal=str(self._journal.path),
            )
            self._raise_alert("alert.records_dropped", memory_queue_max=self._memory_max)
        log.error("store.dropped", call_id=record.call_id, node=record.node, dropped=self.dropped)

    # --- writing, splitting, setting aside -----------------------------------------------

    async def _store(self, records: list[CallRecord], done: Callable[[int], None]) -> bool:
        """Write `records` in order. A data error splits the batch in halves down to the record
        the database refuses, which is set aside. `done(n)`: the first n are handled. False: the
        database is unreachable; the rest waits."""
        # A method, not a closure calling itself: that was a reference cycle holding each batch's
        # records until the garbage collector's next full pass (issue 12).
        return await self._attempt(records, 0, len(records), done)

    async def _attempt(
        self, records: list[CallRecord], lo: int, hi: int, done: Callable[[int], None]
    ) -> bool:
        if lo >= hi:
            return True
        try:
            await write_records(self._engine, records[lo:hi], ladder=self._ladder)
        except _UNREACHABLE as exc:
            log.warning("store.unreachable", database=self._label, error=_first_line(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - the data's fault: find the record
            if hi - lo > 1:
                mid = (lo + hi) // 2
                return await self._attempt(records, lo, mid, done) and await self._attempt(
                    records, mid, hi, done
                )
            if not self._reject(records[lo], exc):
                return False
            done(hi)
            return True
        self.written += hi - lo
        RECORDS_WRITTEN.inc(hi - lo)
        # One line a transaction, each call's id with what was stored: two lines a call
        # (its provisional and final records) were a quarter of the log at 100 calls/s.
        log.info(
            "store.written",
            node=",".join(sorted({r.node for r in records[lo:hi]})),
            records=hi - lo,
            calls={r.call_id: r.disposition for r in records[lo:hi]},
        )
        done(hi)
        return True

    def _reject(self, record: CallRecord, exc: Exception) -> bool:
        """Keep a record the database refuses in `<journal>.rejected`, once. False if even that
        cannot be written (it is then retried with the rest)."""
        try:
            self._journal.set_aside(_line(record))
        except OSError as io_exc:
            log.error(
                "store.journal_failed", journal=str(self._journal.rejected_path), error=_first_line(io_exc)
            )
            return False
        self.rejected += 1
        fields = {"call_id": record.call_id, "node": record.node, "error": _first_line(exc)}
        log.error("store.record_rejected", rejected=str(self._journal.rejected_path), **fields)
        self._raise_alert("alert.record_rejected", **fields)
        return True

    def _raise_alert(self, event: str, **fields: Any) -> None:
        if self._alert is not None:
            try:
                self._alert(event, **fields)
            except Exception as exc:  # noqa: BLE001 - an alert must never stop the writer
                log.warning("store.alert_failed", alert=event, error=_first_line(exc))

    # --- the journal ---------------------------------------------------------------------------

    async def _replay(self) -> bool:
        """Journal → database in batches of BATCH, each committed batch checkpointed. True when
        nothing is left to replay (or the journal cannot be read: memory goes on meanwhile)."""
        replayed = 0
        while self._journal.has_records():
            try:
                lines = self._journal.read(BATCH)
            except OSError as exc:
                log.error("store.journal_unreadable", journal=str(self._journal.path), error=_first_line(exc))
                return True
            if not lines:
                break
            before = self.written
            if not await self._replay_lines(lines):
                return False
            replayed += self.written - before
        if replayed:
            log.info("store.replayed", count=replayed)
        if self._journal.offset:
            self._journal.finish()
        return True

    async def _replay_lines(self, lines: list[tuple[str, int]]) -> bool:
        records: list[CallRecord] = []
        ends: list[int] = []

        async def commit() -> bool:
            ok = await self._store(records, lambda n: self._journal.advance(ends[n - 1]))
            records.clear()
            ends.clear()
            return ok

        for text, end in lines:
            if not text:
                continue
            try:
                records.append(CallRecord.from_json(json.loads(text)))
                ends.append(end)
                continue
            except (ValueError, KeyError, TypeError) as exc:
                error = _first_line(exc)
            # Commit what came before, so that the checkpoint can pass this line once it is set aside.
            if not await commit():
                return False
            try:
                self._journal.set_aside(text)
            except OSError as io_exc:
                log.error(
                    "store.journal_failed",
                    journal=str(self._journal.rejected_path),
                    error=_first_line(io_exc),
                )
                return False
            self._journal.advance(end)
            log.error("store.journal_bad_line", error=error, line=text[:200])
        if not await commit():
            return False
        self._journal.advance(lines[-1][1])
        return True
