"""LOG-3: the read audit is append-only and tamper-evident. Each entry is chained to the one
before by sha256; `callguard audit verify` names the first broken link and exits 1; concurrent
reads never fork the chain. Real SQLite through the real store and the real app."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog.testing
from fastapi import APIRouter, Depends
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.store import make_engine, migrate
from callguard.store.audit import AuditEntry, AuditRow, append_entry, chain_hash, verify_chain
from callguard.web import audit
from callguard.web.deps import Access, require
from tests.console import ACCOUNTS, PROJECT, running_console, sign_in


def _entry(n: int, account: str = "he.gang") -> AuditEntry:
    return AuditEntry(
        account, "auditor", "calls.list", {"person": "chen.jie", "n": n}, n, "127.0.0.1", datetime.now(UTC)
    )


async def _chain(tmp_path: Path, entries: int) -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await migrate(engine)
    for n in range(entries):
        await append_entry(engine, _entry(n))
    return engine


async def _ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(AuditRow.id).order_by(AuditRow.seq))).scalars())


async def test_each_entry_is_chained_to_the_one_before(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 3)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AuditRow).order_by(AuditRow.seq))).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == "0" * 64
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash
    row = rows[1]
    values = {
        k: getattr(row, k) for k in ("seq", "at", "account", "role", "action", "filters", "count", "address")
    }
    assert chain_hash(rows[0].hash, values) == row.hash
    verdict = await verify_chain(engine)
    assert (verdict.count, verdict.broken_id) == (3, None)
    await engine.dispose()


async def test_a_changed_entry_is_the_first_broken_link(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 5)
    ids = await _ids(engine)
    async with engine.begin() as conn:  # someone hides how many records an auditor read
        await conn.execute(update(AuditRow).where(AuditRow.id == ids[2]).values(count=0))
    verdict = await verify_chain(engine)
    assert (verdict.count, verdict.broken_id) == (2, ids[2])
    await engine.dispose()


async def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 4)
    ids = await _ids(engine)
    async with engine.begin() as conn:
        row = (await conn.execute(select(AuditRow).where(AuditRow.id == ids[1]))).one()
        values = {k: getattr(row, k) for k in ("seq", "at", "role", "action", "filters", "count", "address")}
        values["account"] = "somebody.else"
        await conn.execute(
            update(AuditRow)
            .where(AuditRow.id == ids[1])
            .values(account="somebody.else", hash=chain_hash(row.prev_hash, values))
        )
    assert (await verify_chain(engine)).broken_id == ids[2]
    await engine.dispose()


async def test_a_removed_entry_is_found(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 4)
    ids = await _ids(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(AuditRow).where(AuditRow.id == ids[1]))
    verdict = await verify_chain(engine)
    assert verdict.broken_id == ids[2] and "seq 2 is missing" in verdict.problem
    await engine.dispose()


async def test_concurrent_appends_never_fork_the_chain(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 0)
    await asyncio.gather(*(append_entry(engine, _entry(n)) for n in range(40)))
    async with engine.connect() as conn:
        seqs = list((await conn.execute(select(AuditRow.seq).order_by(AuditRow.seq))).scalars())
    assert seqs == list(range(1, 41))
    verdict = await verify_chain(engine)
    assert (verdict.count, verdict.broken_id) == (40, None)
    await engine.dispose()


async def test_concurrent_reads_over_http_each_write_one_entry_on_one_chain(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("auditor",)) as console, console.client() as client:
        await sign_in(client, ACCOUNTS["auditor"])
        answers = await asyncio.gather(*(client.get(f"/api/v1/audit?account=x{n}") for n in range(20)))
        assert all(a.status_code == 200 for a in answers)
        verdict = await verify_chain(console.engine)
        assert (verdict.count, verdict.broken_id) == (21, None)  # the sign-in, then 20 reads


def _verify_cli(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callguard", "audit", "verify", "--db", f"sqlite+aiosqlite:///{db}"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=60,
    )


async def test_audit_verify_prints_ok_with_the_count_or_the_first_broken_id(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 3)
    ok = _verify_cli(tmp_path / "audit.db")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("audit: OK (3 entries, last hash ")
    ids = await _ids(engine)
    async with engine.begin() as conn:
        await conn.execute(update(AuditRow).where(AuditRow.id == ids[1]).values(action="calls.export"))
    broken = _verify_cli(tmp_path / "audit.db")
    assert broken.returncode == 1
    assert f"audit: BROKEN at entry id {ids[1]}" in broken.stderr
    await engine.dispose()


_WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from callguard.store import make_engine
from callguard.store.audit import AuditEntry, append_entry

async def main():
    engine = make_engine(sys.argv[1])
    for n in range(30):
        entry = AuditEntry(sys.argv[2], "auditor", "calls.list", {"n": n}, n, "::1", datetime.now(UTC))
        await append_entry(engine, entry)
    await engine.dispose()

asyncio.run(main())
"""


async def test_two_console_processes_writing_at_once_keep_one_chain(tmp_path: Path) -> None:
    engine = await _chain(tmp_path, 0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    writers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _WRITER, url, name, cwd=PROJECT)
        for name in ("one", "two")
    ]
    assert [await w.wait() for w in writers] == [0, 0]
    verdict = await verify_chain(engine)
    assert (verdict.count, verdict.broken_id) == (60, None)
    await engine.dispose()


async def test_a_cut_tail_shows_as_a_different_last_hash_than_the_log_kept(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("auditor",)) as console, console.client() as client:
        await sign_in(client, ACCOUNTS["auditor"])
        with structlog.testing.capture_logs() as logs:
            for n in range(3):
                await client.get(f"/api/v1/audit?account=x{n}")
        reads = [line for line in logs if line["event"] == "console.read"]
        assert [r["seq"] for r in reads] == [2, 3, 4] and all(r["rule"] == "LOG-3" for r in reads)
        assert (await verify_chain(console.engine)).head == reads[-1]["hash"]
        async with console.engine.begin() as conn:  # the last read is removed: still a valid chain ...
            await conn.execute(delete(AuditRow).where(AuditRow.seq == 4))
        cut = await verify_chain(console.engine)
        assert (cut.count, cut.broken_id) == (3, None)
        assert cut.head != reads[-1]["hash"] and cut.head == reads[-2]["hash"]  # ... but not the log's head


async def test_the_audit_is_browsed_by_account_action_and_time(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("auditor",)) as console, console.client() as client:
        await sign_in(client, ACCOUNTS["auditor"])
        await client.get("/api/v1/audit")
        mine = (await client.get("/api/v1/audit", params={"account": "he.gang", "action": "session."})).json()
        assert [e["action"] for e in mine] == ["session.sign_in"]
        later = (await client.get("/api/v1/audit", params={"since": "2999-01-01T00:00"})).json()
        assert later == []
        csv_text = (await client.get("/audit.csv")).text
        assert csv_text.startswith("\ufeffseq,at,account,role,action,filters,count,address,hash")
        assert "audit.list" in csv_text
        bad = await client.get("/api/v1/audit", params={"since": "yesterday"})
        assert bad.status_code == 400 and bad.json()["detail"].startswith("since: 'yesterday' is not a time")


async def test_numbers_searched_for_are_masked_in_the_audit_for_roles_without_the_right(
    tmp_path: Path,
) -> None:
    async with running_console(tmp_path, ("admin", "auditor"), unmasked_roles=("admin",)) as console:
        async with console.client() as admin:
            await sign_in(admin, ACCOUNTS["admin"])
            await admin.get("/api/v1/calls", params={"number": "13800138000"})  # any read with a number
            assert "13800138000" in (await admin.get("/audit.csv")).text
        async with console.client() as auditor:
            await sign_in(auditor, ACCOUNTS["auditor"])
            for surface in ("/api/v1/audit", "/audit.csv", "/audit"):
                shown = (await auditor.get(surface, headers={"accept": "text/html"})).text
                assert "13800138000" not in shown and "138****8000" in shown, surface


async def test_a_read_that_forgets_its_audit_entry_gives_out_no_data(tmp_path: Path) -> None:
    """The guard, not each route's care: a route that passed require() and answers 200 without
    an audit entry has its answer replaced by a 500 (a forgetful route added later, here)."""
    forgetful = APIRouter()

    @forgetful.get("/api/v1/forgetful")
    async def forgets(access: Annotated[Access, Depends(require("calls"))]) -> dict[str, str]:
        return {"secret": "13800138000"}

    @forgetful.get("/api/v1/careful")
    async def remembers(access: Annotated[Access, Depends(require("calls"))]) -> dict[str, str]:
        await audit.record(access.viewer, "calls.list", {}, 1)
        return {"ok": "yes"}

    async with running_console(tmp_path, ("auditor",)) as console, console.client() as client:
        console.app.include_router(forgetful)
        await sign_in(client, ACCOUNTS["auditor"])
        with structlog.testing.capture_logs() as logs:
            withheld = await client.get("/api/v1/forgetful")
        assert withheld.status_code == 500 and "13800138000" not in withheld.text
        assert any(line["event"] == "console.unaudited_read" and line["rule"] == "LOG-3" for line in logs)
        careful = await client.get("/api/v1/careful")
        assert careful.status_code == 200 and careful.json() == {"ok": "yes"}


async def test_a_refusal_records_the_real_path_and_the_csv_has_filters_as_json(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("operations", "auditor")) as console:
        async with console.client() as ops:
            await sign_in(ops, ACCOUNTS["operations"])
            assert (
                await ops.get("/api/v1/audit", params={"path": "/harmless", "account": "x"})
            ).status_code == 403
        async with console.client() as auditor:
            await sign_in(auditor, ACCOUNTS["auditor"])
            refused = next(
                e for e in (await auditor.get("/api/v1/audit")).json() if e["action"] == "audit.refused"
            )
            assert refused["filters"] == {"path": "/api/v1/audit", "account": "x"}
            table = list(csv.DictReader(io.StringIO((await auditor.get("/audit.csv")).text.lstrip("\ufeff"))))
            row = next(r for r in table if r["action"] == "audit.refused")
            assert json.loads(row["filters"]) == {"path": "/api/v1/audit", "account": "x"}
