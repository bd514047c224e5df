"""SEC-1's blocklist at run time: kept in memory for the policy, refreshed from the database
(where `callguard block add/remove` edits it), automatic blocks written back."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.policy import BlockEntry, Blocklist, InboundPolicy
from callguard.store import add_block, block_entry, list_blocks

log = structlog.get_logger("callguard.blocklist")


class BlocklistKeeper:
    def __init__(self, engine: AsyncEngine, inbound: InboundPolicy, refresh_s: float) -> None:
        self._engine = engine
        self._inbound = inbound
        self._refresh_s = refresh_s
        self._pending: set[asyncio.Task[None]] = set()
        self._reported = False

    async def run(self) -> None:
        while True:
            try:
                rows = await list_blocks(self._engine)
                self._inbound.blocklist = Blocklist(tuple(block_entry(r) for r in rows))
                self._reported = False
            except Exception as exc:  # noqa: BLE001 - keep the last list while the database is away
                if not self._reported:
                    log.warning("blocklist.refresh_failed", error=repr(exc))
                    self._reported = True
            await asyncio.sleep(self._refresh_s)

    def block(self, entry: BlockEntry) -> None:
        """Block at once in memory; store it for `block list` and for the next start."""
        self._inbound.blocklist = self._inbound.blocklist.adding(entry)
        task = asyncio.create_task(self._store(entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _store(self, entry: BlockEntry) -> None:
        try:
            await add_block(self._engine, entry)
        except Exception as exc:  # noqa: BLE001 - the block still holds in memory until a restart
            log.warning("blocklist.store_failed", pattern=entry.pattern, error=repr(exc))
