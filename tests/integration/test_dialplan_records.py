"""LOG-1 through the lab: calls the dialplan handles alone are recorded, once. While callguard is
stopped the fail-safe dialplan connects calls and Asterisk's CDR (cdr_custom) keeps them; the
next callguard imports them at start. An emergency call while callguard runs is recorded live
from the AMI UserEvents and not again from its CDR row."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from callguard.dialplan_calls import CdrImporter
from callguard.lab import Lab
from callguard.store import list_calls, make_engine, migrate, write_records
from callguard.store.cdr import load_checkpoint
from tests.integration.harness import Harness, callguard_log, now
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 - the fixture
from tests.records import answered_record
from tests.unit.test_dialplan_records import cdr_line, records

pytestmark = pytest.mark.lab


async def _dialplan_records(harness: Harness, since: datetime, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [r for r in await harness.records(since) if r["handled_by"] == "dialplan"]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"expected {count} dialplan records, found {found}")


def _cdr_import(lab: Lab) -> str:
    assert lab.state is not None
    out = subprocess.run(
        [sys.executable, "-m", "callguard", "cdr", "import", "--config", lab.state.config_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


async def test_failsafe_calls_while_callguard_is_down_are_recorded_once_it_is_back(
    harness: Harness, lab: Lab
) -> None:
    t0 = now()
    imports_before = len(_logged(lab, "cdr.imported"))
    lab.stop_controller()
    try:
        carrier = await harness.carrier()
        phone = await harness.phone("1002", "answer", answer_after_ms=200)
        internal = await harness.dial("1001", "1002", talk_ms=1000)
        assert await internal.wait() == 0 and await phone.wait() == 0 and internal.saw("ANSWERED")
        outside = await harness.dial("2003", "062345678", talk_ms=1000)
        assert await outside.wait() == 0 and outside.saw("ANSWERED")
        premium = await harness.dial("2003", "016812345678")
        assert await premium.wait() == 0 and premium.final_code() == 403
        assert carrier.dialed() == ["62345678"]
        assert await harness.records(t0) == []  # nobody recorded them live
    finally:
        lab.start_controller()

    recs = {r["dialed"]: r for r in await _dialplan_records(harness, t0, 3)}
    assert sorted(recs) == ["016812345678", "062345678", "1002"]
    inside = recs["1002"]
    assert inside["direction"] == "internal" and inside["disposition"] == "answered"
    assert inside["caller"]["name"] == "王丽 Wang Li" and inside["line"] == "1001"
    assert inside["callee"]["name"] == "赵敏 Zhao Min" and inside["talk_s"] >= 0.9
    assert inside["decisions"][0] == {
        "action": "failsafe",
        "reason": "callguard_not_connected",
        "rule": "LOG-1",
        "by": "dialplan",
        "source": "cdr",
    }
    out = recs["062345678"]
    assert (out["direction"], out["number_class"], out["disposition"]) == ("outbound", "local", "answered")
    assert out["callee"]["number"] == "62345678" and out["line"] == "2003" and out["talk_s"] >= 0.9
    refused = recs["016812345678"]
    assert (refused["number_class"], refused["disposition"], refused["talk_s"]) == (
        "premium",
        "refused",
        None,
    )
    # The call id is the caller channel's uniqueid, as for callguard's own records.
    assert all(r["legs"][0]["channel_id"] == r["call_id"] for r in recs.values())
    # Imported by the restarted callguard: at its start, or at its AMI (re)connect if Asterisk
    # had not yet written the last CDR row then; the three calls once in all.
    assert sum(e["count"] for e in _logged(lab, "cdr.imported")[imports_before:]) == 3

    # Restarted again, and imported by hand from the file's start: still once each. (The hand
    # import runs while callguard is stopped: a running one may import at its AMI reconnect and
    # move the checkpoint to the file's end first.)
    lab.stop_controller()
    lab.start_controller()
    lab.stop_controller()
    assert lab.state is not None
    db = Path(lab.state.database_url.split(":///", 1)[1])
    try:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM cdr_imports")  # forget the checkpoint: every row is read again
        printed = _cdr_import(lab)
    finally:
        lab.start_controller()
    # These three, and whatever earlier tests of the suite left to the dialplan (emergency calls).
    already = re.search(r"(\d+) already recorded", printed)
    assert "0 calls recorded" in printed and already is not None and int(already[1]) >= 3, printed
    counts = Counter(r["call_id"] for r in await harness.records(t0))
    assert sorted(counts.values()) == [1, 1, 1]
    await harness.wait_clean()


async def test_an_emergency_call_while_callguard_runs_is_recorded_once(harness: Harness, lab: Lab) -> None:
    t0 = now()
    carrier = await harness.carrier()
    caller = await harness.dial("2004", "0110", talk_ms=800)
    assert await caller.wait() == 0 and caller.saw("ANSWERED")
    rec = await harness.wait_record(t0, "110")
    assert rec["handled_by"] == "dialplan" and rec["decisions"][0]["source"] == "ami"
    assert rec["number_class"] == "emergency" and rec["line"] == "2004"
    assert carrier.dialed() == ["110"]
    # Its CDR row is read at the next start and by hand, and skipped: the call is stored.
    lab.stop_controller()
    lab.start_controller()
    assert "0 calls recorded" in _cdr_import(lab)
    assert [r["call_id"] for r in await harness.records(t0)] == [rec["call_id"]]
    await harness.wait_clean()


async def test_cdr_import_checkpoint_and_handled_by_on_postgres(
    postgres: PgServer,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """Migration 0009 on PostgreSQL: calls.handled_by and the import checkpoint; a second import
    from the file's start stores nothing twice."""
    engine = make_engine(postgres.url)
    path = tmp_path / "callguard.csv"
    path.write_text(cdr_line(uniqueid="1800000000.1") + cdr_line(uniqueid="1800000000.2", userfield=""))
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        await migrate(engine)
        await write_records(engine, [answered_record("1700000000.42")])
        importer = CdrImporter(engine, path, records(), "office-1", lambda e, **f: events.append((e, f)))
        first = await importer.import_once()
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM cdr_imports"))
        again = await importer.import_once()
        point = await load_checkpoint(engine, f"office-1:{path}")
        calls = await list_calls(engine)
    finally:
        await engine.dispose()
    assert first is not None and (first.rows, first.imported) == (2, 1)
    assert again is not None and (again.rows, again.imported, again.skipped) == (2, 0, 1)
    assert point is not None and point.offset == path.stat().st_size
    assert sorted((c["call_id"], c["handled_by"]) for c in calls) == [
        ("1700000000.42", "callguard"),
        ("1800000000.1", "dialplan"),
    ]


def _logged(lab: Lab, event: str) -> list[dict[str, Any]]:
    return [entry for entry in callguard_log(lab) if entry.get("event") == event]
