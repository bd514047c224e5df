"""The console's reads on a real PostgreSQL (LOG-3): the scoped search, the rule filter that
reads decisions (JSON as text), a call's story and the compliance report; the same records
as the SQLite tests, written by the real writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.console_records import Console, console
from tests.integration.test_console_records import ids
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 - the fixture


@pytest.fixture
async def cons(postgres: PgServer, tmp_path: Path) -> AsyncIterator[Console]:  # noqa: F811
    async for made in console(tmp_path, postgres.url):
        yield made


async def test_console_reads_on_postgres(cons: Console) -> None:
    async with cons.client("liu.yang") as head:
        assert ids((await head.get("/api/v1/calls")).json()) == {"inbound-2", "outbound-4"}
    async with cons.client("wang.li") as admin:
        assert ids((await admin.get("/api/v1/calls", params={"rule": "OUT-3"})).json()) == {"outbound-3"}
        assert ids((await admin.get("/api/v1/calls", params={"rule": "OUT-1"})).json()) == {"outbound-4"}
        story = (await admin.get("/api/v1/calls/node1/inbound-2")).json()
        assert [v["rule"] for v in story["violations"]] == ["ANS-1"]
        rows = (await admin.get("/api/v1/reports/compliance", params={"period": _days()})).json()["rows"]
    assert {r["key"] for r in rows if r["kind"] == "department"} == {"admin", "sales"}
    async with cons.client("chen.jie") as employee:
        (message,) = (await employee.get("/api/v1/messages")).json()
        assert message["caller"] == "138****1111"


def _days() -> str:
    today = datetime.now().astimezone().date()
    return f"{today - timedelta(days=1)}..{today}"
