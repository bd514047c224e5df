"""OUT-3 PIN lockouts at run time: PinGuard's counts in memory, each wrong code written to the
database in the background (never awaited by a call), and read back when callguard starts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config import OutboundSettings
from callguard.policy import PinGuard, PinLockout
from callguard.store.pins import PinFailure, add_pin_failure, pin_failures_since

log = structlog.get_logger("callguard.pins")


def pin_guard(settings: OutboundSettings) -> PinGuard:
    return PinGuard(
        settings.pin_lockout_after,
        timedelta(minutes=settings.pin_lockout_window_min),
        timedelta(minutes=settings.pin_lockout_min),
    )


class PinLockouts:
    def __init__(self, guard: PinGuard, engine: AsyncEngine | None = None) -> None:
        self.guard = guard
        self._engine = engine
        self._pending: set[asyncio.Task[None]] = set()

    def locked(self, line: str, person: str | None, now: datetime) -> datetime | None:
        return self.guard.locked(line, person, now)

    def failed(self, line: str, person: str | None, call_id: str, now: datetime) -> PinLockout | None:
        """Count a wrong code at once; store it without making the call wait for the database."""
        started = self.guard.failed(line, person, now)
        if self._engine is not None:
            task = asyncio.create_task(self._store(PinFailure(line, person, now, call_id)))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return started

    async def _store(self, failure: PinFailure) -> None:
        assert self._engine is not None
        try:
            await add_pin_failure(self._engine, failure)
        except Exception as exc:  # noqa: BLE001 - the count holds in memory until a restart
            log.warning("pin_guard.store_failed", ext=failure.line, rule="OUT-3", error=repr(exc))

    async def load(self, now: datetime) -> None:
        """Replay the wrong codes that can still matter: those of a lockout that may still run
        and those within the counting window. An unreachable database only loses that."""
        if self._engine is None:
            return
        since = now - self.guard.lockout - self.guard.window
        try:
            async with asyncio.timeout(5):  # never hold up the start of call handling
                failures = await pin_failures_since(self._engine, since)
        except Exception as exc:  # noqa: BLE001 - any database failure: start without the history
            log.warning("pin_guard.history_unavailable", rule="OUT-3", error=repr(exc))
            return
        for failure in failures:
            self.guard.failed(failure.line, failure.person, failure.at)

    async def flush(self) -> None:
        """On shutdown: let the last writes finish (briefly)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2)
