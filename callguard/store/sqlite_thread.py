"""Record writes to SQLite in one thread of their own, a batch a hop (issue 12).

Through aiosqlite each statement of a batch's transaction (the lookup, the deletes, the inserts,
BEGIN and COMMIT) is a hop to its thread and back: a queue put, a wake-up of the event loop and
the GIL handed to and fro, ~30 a batch. Here the whole transaction runs as one call in one
thread, on a synchronous engine over the same file: one hop a batch. All of a database's record
writes go through that thread, so they never wait on each other for SQLite's write lock.

Reads (the console, reports, the budget watcher) stay on the asynchronous engine.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


class SqliteThread:
    """A synchronous engine on an asynchronous engine's database file, used by one thread."""

    def __init__(self, url: str, busy_timeout_s: float, on_connect: Callable[[Any, Any], None]) -> None:
        # check_same_thread=False only so that close() may close the connection after the thread
        # is done; every statement runs in the executor's one thread.
        args = {"timeout": busy_timeout_s, "check_same_thread": False}
        self._engine: Engine = create_engine(url, connect_args=args)
        event.listen(self._engine, "connect", on_connect)
        self._executor: ThreadPoolExecutor | None = None

    async def transaction(self, work: Callable[..., T], *args: Any) -> T:
        """`work(connection, *args)` in one transaction, in the thread; its exception passes up."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callguard-sqlite")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, work, args)

    def _in_transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._engine.begin() as conn:
            return work(conn, *args)

    def close(self) -> None:
        """Once the write under way is done (a shutdown disposes the engine after the writer
        stopped). A later write starts a new thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._engine.dispose()


_THREADS: weakref.WeakKeyDictionary[Engine, SqliteThread] = weakref.WeakKeyDictionary()


def attach(engine: AsyncEngine, busy_timeout_s: float, on_connect: Callable[[Any, Any], None]) -> None:
    """Give a SQLite file's engine its writing thread (closed when the engine is disposed)."""
    url = engine.url.set(drivername="sqlite").render_as_string(hide_password=False)
    thread = _THREADS[engine.sync_engine] = SqliteThread(url, busy_timeout_s, on_connect)
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: thread.close())


def writing_thread(engine: AsyncEngine) -> SqliteThread | None:
    return _THREADS.get(engine.sync_engine)
