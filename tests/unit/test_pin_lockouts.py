"""OUT-3 PIN lockouts kept in real SQLite: a restart does not reset them, and a database that
is away never fails a call nor loses the lockout in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from callguard.calls.pin_lockouts import PinLockouts, pin_guard
from callguard.config import OutboundSettings
from callguard.store import make_engine, migrate
from callguard.store.pins import pin_failures_since

SETTINGS = OutboundSettings(pin_lockout_after=3, pin_lockout_window_min=15, pin_lockout_min=30)
NOW = datetime.now(UTC).replace(microsecond=0)


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    return engine


async def test_a_lockout_survives_a_restart(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    before = PinLockouts(pin_guard(SETTINGS), engine)
    for minutes, call in ((3, "c1"), (2, "c2")):
        assert before.failed("2004", "wu.fang", call, NOW - timedelta(minutes=minutes)) is None
    started = before.failed("2004", "wu.fang", "c3", NOW - timedelta(minutes=1))
    assert started is not None and started.until == NOW + timedelta(minutes=29)
    before.failed("2003", "zhou.qiang", "c4", NOW)  # one wrong code of a colleague
    await before.flush()
    stored = await pin_failures_since(engine, NOW - timedelta(hours=1))
    assert [(f.line, f.person, f.call_id) for f in stored] == [
        ("2004", "wu.fang", "c1"),
        ("2004", "wu.fang", "c2"),
        ("2004", "wu.fang", "c3"),
        ("2003", "zhou.qiang", "c4"),
    ]
    assert stored[0].at == NOW - timedelta(minutes=3)  # UTC, as written

    after = PinLockouts(pin_guard(SETTINGS), engine)  # a new process
    await after.load(NOW)
    assert after.locked("2004", "wu.fang", NOW) == NOW + timedelta(minutes=29)
    assert after.locked("2003", "zhou.qiang", NOW) is None
    # The colleague's one wrong code still counts: two more lock that line too.
    after.failed("2003", "zhou.qiang", "c5", NOW)
    assert after.failed("2003", "zhou.qiang", "c6", NOW) is not None
    await engine.dispose()


async def test_an_ended_lockout_does_not_come_back_after_a_restart(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    old = PinLockouts(pin_guard(SETTINGS), engine)
    long_ago = NOW - timedelta(minutes=50)  # locked until 20 minutes ago
    for n in range(3):
        old.failed("2004", "wu.fang", f"c{n}", long_ago + timedelta(seconds=n))
    await old.flush()
    fresh = PinLockouts(pin_guard(SETTINGS), engine)
    await fresh.load(NOW)
    assert fresh.locked("2004", "wu.fang", NOW) is None
    await engine.dispose()


async def test_a_database_outage_keeps_the_lockout_in_memory(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    await engine.dispose()  # no pooled connection keeps the old file open
    (tmp_path / "c.db").unlink()
    (tmp_path / "c.db").mkdir()  # the database file is gone: every write fails
    lockouts = PinLockouts(pin_guard(SETTINGS), engine)
    with capture_logs() as logs:
        for n in range(3):
            lockouts.failed("2004", "wu.fang", f"c{n}", NOW)
        await lockouts.flush()
        await lockouts.load(NOW)  # and a start without the history is only a warning
    assert lockouts.locked("2004", "wu.fang", NOW) == NOW + timedelta(minutes=30)
    events = [e["event"] for e in logs]
    assert events.count("pin_guard.store_failed") == 3 and "pin_guard.history_unavailable" in events
    await engine.dispose()
