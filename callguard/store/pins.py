"""OUT-3: wrong authorization codes in the database, so that PIN lockouts outlive a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.store.models import PinFailureRow
from callguard.store.rows import aware


@dataclass(frozen=True)
class PinFailure:
    line: str
    person: str | None
    at: datetime  # UTC
    call_id: str = ""


async def add_pin_failure(engine: AsyncEngine, failure: PinFailure) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(PinFailureRow).values(
                at=failure.at.astimezone(UTC),
                line=failure.line[:64],
                person=failure.person,
                call_id=failure.call_id[:128],
            )
        )


async def pin_failures_since(engine: AsyncEngine, since: datetime) -> list[PinFailure]:
    """Wrong codes from `since` on, oldest first (the order PinGuard counts them in)."""
    query = (
        select(PinFailureRow.line, PinFailureRow.person, PinFailureRow.at, PinFailureRow.call_id)
        .where(PinFailureRow.at >= since)
        .order_by(PinFailureRow.at, PinFailureRow.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [PinFailure(line, person, aware(at), call_id) for line, person, at, call_id in rows]
