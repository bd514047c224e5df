"""Times are stored in UTC; a read bounded by local times (the wallboard's local midnight, an
auditor's "since 08:00") must select by the instant, not by the wall-clock digits. SQLite's
DateTime drops a bound's zone: on a PBX in Beijing the wallboard's day began at 08:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from callguard.store import make_engine, migrate, write_records
from callguard.store.archive import read_calls
from callguard.store.audit import AuditEntry, append_entry, list_entries
from tests.records import answered_record

BEIJING = timezone(timedelta(hours=8))


async def test_calls_read_between_local_times_are_those_of_that_local_span(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    early = answered_record("early")  # 07:30 in Beijing: the local morning, 23:30 UTC the day before
    early.started_at = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    late = answered_record("late")  # 09:00 in Beijing
    late.started_at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    yesterday = answered_record("yesterday")  # 23:00 in Beijing, the local day before
    yesterday.started_at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    await write_records(engine, [early, late, yesterday])
    midnight = datetime(2026, 11, 24, tzinfo=BEIJING)
    calls = await read_calls(engine, midnight, midnight + timedelta(hours=12))
    assert [c["call_id"] for c in calls] == ["early", "late"]
    await engine.dispose()


async def test_audit_entries_since_a_local_time_are_those_after_that_instant(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    for name, at in (
        ("before", datetime(2026, 11, 23, 23, 0, tzinfo=UTC)),
        ("after", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
    ):
        await append_entry(engine, AuditEntry("he.gang", "auditor", name, {}, 0, "127.0.0.1", at))
    since = datetime(2026, 11, 24, 8, 0, tzinfo=BEIJING)  # 00:00 UTC
    assert [e["action"] for e in await list_entries(engine, since=since)] == ["after"]
    assert [e["action"] for e in await list_entries(engine, until=since)] == ["before"]
    await engine.dispose()
