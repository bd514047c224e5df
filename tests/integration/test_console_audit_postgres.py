"""The console's tables on a real PostgreSQL (migration 0010): accounts, tokens, sessions, stored
failed sign-ins, and the LOG-3 audit chain written by two processes at once (its transaction lock)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from callguard.store import make_engine, migrate
from callguard.store.accounts import (
    account_for_token,
    add_account,
    create_token,
    failures_since,
    find_session,
    open_session,
    record_failure,
)
from callguard.store.audit import AuditRow, verify_chain
from tests.console import PROJECT
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 (the fixture)
from tests.unit.test_audit_chain import _WRITER


async def test_accounts_sessions_tokens_and_failures_on_postgres(postgres: PgServer) -> None:  # noqa: F811
    engine = make_engine(postgres.url)
    try:
        await migrate(engine)
        account = await add_account(engine, "chen.jie", "employee", "$argon2id$stand-in")
        session_id, csrf = await open_session(engine, account.id, 1)
        assert await find_session(engine, session_id) == (account.id, csrf)
        _id, token, _expires_at = await create_token(engine, "chen.jie", "script")
        found = await account_for_token(engine, token)
        assert found is not None and found.username == "chen.jie"
        await record_failure(engine, "chen.jie", "10.0.0.1", datetime.now(UTC) - timedelta(minutes=15))
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert await failures_since(engine, "chen.jie", "10.0.0.1", since) == (1, 1)
    finally:
        await engine.dispose()


async def test_two_processes_append_to_one_audit_chain_on_postgres(postgres: PgServer) -> None:  # noqa: F811
    engine = make_engine(postgres.url)
    try:
        await migrate(engine)
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WRITER, postgres.url, name, cwd=PROJECT
            )
            for name in ("one", "two", "three")
        ]
        assert [await w.wait() for w in writers] == [0, 0, 0]
        verdict = await verify_chain(engine)
        assert (verdict.count, verdict.broken_id) == (90, None)
        async with engine.begin() as conn:  # the hash survives PostgreSQL's own timestamps and JSON
            await conn.execute(update(AuditRow).where(AuditRow.seq == 45).values(address="10.9.9.9"))
        broken = await verify_chain(engine)
        assert broken.count == 44 and broken.broken_id is not None
    finally:
        await engine.dispose()
