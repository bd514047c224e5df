"""LOG-1: the CDR import's checkpoint (how far each CDR file was read) and which of its calls
are stored already."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.store.db import PROVISIONAL
from callguard.store.models import CallRow, CdrImportRow


@dataclass(frozen=True, slots=True)
class Checkpoint:
    file_id: str  # device:inode of the file read
    offset: int  # bytes read (always the end of a complete row)
    rows: int
    imported: int


async def load_checkpoint(engine: AsyncEngine, source: str) -> Checkpoint | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    CdrImportRow.file_id, CdrImportRow.offset, CdrImportRow.rows, CdrImportRow.imported
                ).where(CdrImportRow.source == source)
            )
        ).first()
    return Checkpoint(row[0], int(row[1]), int(row[2]), int(row[3])) if row else None


async def save_checkpoint(engine: AsyncEngine, source: str, point: Checkpoint) -> None:
    values = {
        "file_id": point.file_id,
        "offset": point.offset,
        "rows": point.rows,
        "imported": point.imported,
        "updated_at": datetime.now(UTC),
    }
    async with engine.begin() as conn:
        done = await conn.execute(update(CdrImportRow).where(CdrImportRow.source == source).values(values))
        if not done.rowcount:
            await conn.execute(insert(CdrImportRow).values(source=source, **values))


async def stored_call_ids(engine: AsyncEngine, node: str, call_ids: Iterable[str]) -> set[str]:
    """Those of `call_ids` this node has a final record of (a provisional one is replaced)."""
    wanted = sorted(set(call_ids))
    found: set[str] = set()
    async with engine.connect() as conn:
        for i in range(0, len(wanted), 500):  # bounded IN lists
            rows = await conn.execute(
                select(CallRow.call_id).where(
                    CallRow.node == node,
                    CallRow.call_id.in_(wanted[i : i + 500]),
                    CallRow.disposition.not_in(PROVISIONAL),
                )
            )
            found.update(rows.scalars())
    return found
