"""LOG-5 in the database, on SQLite and on a real PostgreSQL: violations stored with their
ladder step in the writer's transaction, appeals and decisions with their history, an
overturned violation not counting for the next one, and migration 0008 on old rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config._models import ViolationSettings
from callguard.policy.ladder import AppealError, Calendar, Ladder
from callguard.records import CallRecord
from callguard.store import list_violations, make_engine, migrate, write_records
from callguard.store.ladder import appeal, decide, violation_history
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 - the fixture
from tests.records import answered_record
from tests.unit.test_store import upgrade_to

# Monday 2 March 2026, 10:00 UTC (18:00 in China); the deadlines below count Mon-Fri days.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LADDER = Ladder(ViolationSettings(window_days=90), lambda _person: Calendar(frozenset({1, 2, 3, 4, 5})))


@pytest.fixture(params=["sqlite", "postgresql"])
async def bare(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of each kind."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/c.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres").url
    )
    eng = make_engine(url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def engine(bare: AsyncEngine) -> AsyncEngine:
    await migrate(bare)
    return bare


def broke(call_id: str, at: datetime, rule: str = "ANS-1", severity: str = "minor", **kw: Any) -> CallRecord:
    rec = answered_record(call_id)
    rec.started_at = at - timedelta(seconds=5)
    rec.violations = [
        {
            "rule": rule,
            "extension": "1003",
            "person": kw.get("person", "chen.jie"),
            "reason": "not answered within 3 rings",
            "fine_yuan": kw.get("fine", 0.0),
            "severity": severity,
            "at": at.isoformat(),
        }
    ]
    return rec


async def ledger(engine: AsyncEngine, person: str = "chen.jie") -> list[dict[str, Any]]:
    return list(reversed(await list_violations(engine, person=person)))


async def test_three_violations_walk_the_ladder_and_an_overturned_one_stops_counting(
    engine: AsyncEngine,
) -> None:
    await write_records(engine, [broke("a", T0)], LADDER)
    # Two in one batch: the later one counts the earlier one of the same batch.
    await write_records(
        engine, [broke("c", T0 + timedelta(days=2)), broke("b", T0 + timedelta(days=1))], LADDER
    )
    rows = await ledger(engine)
    assert [(r["call_id"], r["step"], r["fine_yuan"]) for r in rows] == [
        ("a", "verbal_warning", 0.0),
        ("b", "written_warning", 0.0),
        ("c", "fine", 50.0),  # ANS-1 has no fine of its own: the schedule's, at the fine step
    ]
    assert {r["status"] for r in rows} == {"open"}
    assert rows[0]["appeal_by"] == "2026-03-09"  # 5 working days after Monday: next Monday
    second = rows[1]["id"]

    # Appeal in time (by default in the person's name), then the administrator overturns.
    appealed = await appeal(engine, second, "I was on a customer visit", None, T0 + timedelta(days=3))
    assert appealed["status"] == "appealed"
    with pytest.raises(AppealError, match="appealed, not open"):
        await appeal(engine, second, "again", None, T0 + timedelta(days=3))
    decided = await decide(
        engine, second, False, "visit confirmed by the calendar", "hr.admin", T0 + timedelta(days=4)
    )
    assert decided["status"] == "overturned"
    with pytest.raises(AppealError, match="already overturned"):
        await decide(engine, second, True, "changed my mind", "hr.admin", T0 + timedelta(days=4))

    # The next one counts a and c only: a fine, not a referral. Steps already given are kept.
    await write_records(engine, [broke("d", T0 + timedelta(days=5))], LADDER)
    rows = await ledger(engine)
    assert [(r["call_id"], r["step"], r["status"]) for r in rows] == [
        ("a", "verbal_warning", "open"),
        ("b", "written_warning", "overturned"),
        ("c", "fine", "open"),
        ("d", "fine", "open"),
    ]
    history = await violation_history(engine, second)
    assert [(e["action"], e["by"]) for e in history["events"]] == [
        ("step_assigned", "callguard"),
        ("appealed", "chen.jie"),
        ("overturned", "hr.admin"),
    ]
    assert history["events"][2]["reason"] == "visit confirmed by the calendar"
    [assigned] = (await violation_history(engine, rows[3]["id"]))["events"]
    assert assigned["detail"]["counted"] == [rows[0]["id"], rows[2]["id"]]


async def test_a_step_names_the_latest_violations_that_decide_it_and_no_more(engine: AsyncEngine) -> None:
    """An operator line can collect a thousand ANS-1 violations in the window: a new one's step
    reads and names only the latest that decide it (the last step repeats), not all of them."""
    await write_records(engine, [broke("old", T0 - timedelta(days=91))], LADDER)  # out of the window
    for n in range(6):
        await write_records(engine, [broke(f"v{n}", T0 + timedelta(hours=n))], LADDER)
    rows = await ledger(engine)
    assert [r["step"] for r in rows] == ["verbal_warning"] * 2 + [
        "written_warning",
        "fine",
        "referral",
        "referral",
        "referral",
    ]
    last = await violation_history(engine, rows[-1]["id"])
    assert last["events"][0]["detail"]["counted"] == [r["id"] for r in rows[-4:-1]]
    second = await violation_history(engine, rows[2]["id"])
    assert second["events"][0]["detail"]["counted"] == [rows[1]["id"]]  # not the one 91 days before


async def test_appeals_after_the_deadline_or_without_a_step_are_refused(engine: AsyncEngine) -> None:
    friday = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)  # Friday 10:00 in China
    await write_records(engine, [broke("late", friday)], LADDER)
    await write_records(engine, [broke("alert", friday, "SEC-3", "alert", person="wu.fang")], LADDER)
    [late] = await ledger(engine)
    assert late["appeal_by"] == "2026-03-13"
    # The deadline is the end of its local day (UTC+8 here, any zone the machine has).
    last_day = datetime(2026, 3, 13, 12, 0).astimezone()
    await appeal(engine, late["id"], "in time", "chen.jie", last_day)
    await write_records(engine, [broke("later", friday + timedelta(hours=1))], LADDER)
    later = (await ledger(engine))[1]
    with pytest.raises(
        AppealError, match=rf"violation {later['id']} cannot be appealed: the appeal deadline"
    ):
        await appeal(engine, later["id"], "too late", None, last_day + timedelta(days=1))
    [alert] = await ledger(engine, "wu.fang")
    assert (alert["step"], alert["appeal_by"]) == (None, None)
    with pytest.raises(AppealError, match="no ladder step"):
        await appeal(engine, alert["id"], "not me", None, friday)
    with pytest.raises(AppealError, match="no such violation"):
        await appeal(engine, 99999, "who?", None, friday)


async def test_a_serious_violation_starts_at_a_fine_and_replacing_a_provisional_row_keeps_the_step(
    engine: AsyncEngine,
) -> None:
    premium = broke("p", T0, "OUT-1", "serious", person="zhou.qiang", fine=150.0)
    await write_records(engine, [premium.provisional()], LADDER)
    await write_records(engine, [premium], LADDER)  # the final record replaces the provisional one
    await write_records(engine, [CallRecord.from_json(premium.as_json())], LADDER)  # journal replay
    [row] = await ledger(engine, "zhou.qiang")
    assert (row["step"], row["fine_yuan"]) == ("fine", 150.0)  # OUT-1's own fine stands
    assert [e["action"] for e in (await violation_history(engine, row["id"]))["events"]] == ["step_assigned"]


async def test_migration_0008_keeps_old_violations_open_without_a_step(bare: AsyncEngine) -> None:
    """Revision 0008 on a database that already has violations."""
    engine = bare
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_to, "0007")
        await conn.execute(
            text(
                "INSERT INTO violations (call_id, node, rule, extension, person, reason, fine_yuan,"
                " severity, at) VALUES ('old', 'n', 'ANS-1', '1003', 'chen.jie', 'r', 0, 'minor',"
                " '2026-03-01 10:00:00+00')"
            )
        )
    await migrate(engine)
    [old] = await ledger(engine)
    assert (old["step"], old["status"], old["appeal_by"]) == (None, "open", None)
    # Never stepped, so it does not count: the first new one is a verbal warning.
    await write_records(engine, [broke("new", T0)], LADDER)
    assert [r["step"] for r in await ledger(engine)] == [None, "verbal_warning"]
    assert isinstance(date.fromisoformat((await ledger(engine))[1]["appeal_by"]), date)
