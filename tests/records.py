"""A finished call record as the store tests need one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callguard.policy import Party
from callguard.records import CallRecord, LegRecord


def answered_record(call_id: str, talk_s: int = 10) -> CallRecord:
    """1001 王丽 called 1002 赵敏 at 10:00 UTC; answered after 2 s, `talk_s` of talk, two legs."""
    t = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    rec = CallRecord(
        call_id=call_id,
        node="n",
        direction="internal",
        dialed="1002",
        caller=Party("1001", "王丽", "admin"),
        callee=Party("1002", "赵敏", "admin"),
        started_at=t,
        ringing_at=t,
        answered_at=t + timedelta(seconds=2),
        ended_at=t + timedelta(seconds=2 + talk_s),
        disposition="answered",
        hangup_cause=16,
        hangup_by="caller",
        decisions=[{"action": "route", "target": "1002"}],
    )
    rec.legs.append(LegRecord("caller", call_id, "1001", started_at=t))
    rec.legs.append(LegRecord("callee", call_id + "-leg1", "1002", started_at=t))
    return rec
