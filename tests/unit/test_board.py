"""The wallboard's live picture from events: ringing, talking, gone; per-department scope (LOG-3),
masked numbers (SEC-2) and today's answering within the ring limit (ANS-1, LOG-6's definition)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callguard.policy.masking import mask_number
from callguard.reports.bills import Who
from callguard.web.board import Board

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WHO = {
    "1001": Who("wang.li", "王丽 Wang Li", "admin"),
    "2002": Who("sun.hui", "孙慧 Sun Hui", "sales"),
    "2003": Who("zhou.qiang", "周强 Zhou Qiang", "sales"),
}


def board() -> Board:
    b = Board(WHO, {"admin": "Administration", "sales": "Sales"}, lambda ext: 3, 5.0)
    b.load_today(T0.astimezone().date(), [])
    return b


def mask(row: dict[str, Any]) -> dict[str, Any]:
    return {k: mask_number(v) if k == "caller" and v not in WHO else v for k, v in row.items()}


def same(row: dict[str, Any]) -> dict[str, Any]:
    return row


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def outside_call(b: Board, answer: bool, ended: bool = True) -> None:
    c = {"call_id": "c1", "node": "n"}
    b.apply(
        {"event": "call.started", **c, "caller": "13912345678", "dialed": "2003", "direction": "inbound"},
        at(0),
    )
    b.apply({"event": "call.ringing", **c, "ext": "2003"}, at(1))
    if answer:
        b.apply({"event": "call.answered", **c, "ext": "2003", "rings": 2}, at(8))
    if ended:
        b.apply({"event": "call.ended", **c, "disposition": "answered" if answer else "abandoned"}, at(20))


def test_a_ringing_call_shows_its_limit_then_talks_then_leaves() -> None:
    b = board()
    outside_call(b, answer=False, ended=False)
    [ringing] = b.view(None, same)["calls"]
    assert (ringing["state"], ringing["ext"], ringing["department"], ringing["rings_limit"]) == (
        "ringing",
        "2003",
        "sales",
        3,
    )
    b.apply({"event": "call.answered", "call_id": "c1", "ext": "2003", "rings": 2}, at(8))
    [talking] = b.view(None, same)["calls"]
    assert (talking["state"], talking["rings_limit"]) == ("talking", None)
    b.apply({"event": "call.ended", "call_id": "c1", "disposition": "answered"}, at(20))
    view = b.view(None, same)
    assert view["calls"] == []
    sales = next(d for d in view["departments"] if d["id"] == "sales")
    assert (sales["offered"], sales["answered_in_limit"], sales["chances"], sales["in_limit_rate"]) == (
        1,
        1,
        1,
        "1.000",
    )


def test_a_head_sees_their_departments_and_numbers_are_masked_per_viewer() -> None:
    b = board()
    outside_call(b, answer=True, ended=False)
    assert b.view(frozenset({"admin"}), same)["calls"] == []
    assert [d["id"] for d in b.view(frozenset({"admin"}), same)["departments"]] == ["admin"]
    assert b.view(frozenset({"sales"}), mask)["calls"][0]["caller"] == "139****5678"
    assert b.view(None, same)["calls"][0]["caller"] == "13912345678"


def test_an_answer_after_the_limit_counts_against_the_rate() -> None:
    b = board()
    c = {"call_id": "c2", "node": "n"}
    b.apply(
        {"event": "call.started", **c, "caller": "1001", "dialed": "2002", "direction": "internal"}, at(0)
    )
    b.apply({"event": "call.ringing", **c, "ext": "2002"}, at(0))
    b.apply({"event": "call.violation", **c, "rule": "ANS-1", "extension": "2002", "reason": "late"}, at(15))
    b.apply({"event": "call.answered", **c, "ext": "2002", "rings": 4}, at(16))
    b.apply({"event": "call.ended", **c, "disposition": "answered"}, at(30))
    view = b.view(None, same)
    sales = next(d for d in view["departments"] if d["id"] == "sales")
    assert (sales["answered"], sales["answered_in_limit"], sales["in_limit_rate"]) == (1, 0, "0.000")
    assert [v["rule"] for v in view["violations"]] == ["ANS-1"]
    assert b.view(frozenset({"admin"}), same)["violations"] == []


def test_alerts_are_kept_newest_first_and_scoped_by_department() -> None:
    b = board()
    b.apply(
        {"event": "alert.toll_fraud", "ext": "2002", "dialed": "0013800138000", "reason": "hourly"}, at(1)
    )
    b.apply({"event": "alert.budget_threshold", "budget": "department:admin", "threshold_pct": 80}, at(2))
    assert [a["alert"] for a in b.view(None, same)["alerts"]] == ["budget_threshold", "toll_fraud"]
    assert [a["alert"] for a in b.view(frozenset({"sales"}), same)["alerts"]] == ["toll_fraud"]
    assert [a["alert"] for a in b.view(frozenset({"admin"}), same)["alerts"]] == ["budget_threshold"]


def test_the_days_history_is_counted_once_from_the_database() -> None:
    b = Board(WHO, {}, lambda ext: 3, 5.0)
    stored = {
        "call_id": "old",
        "direction": "internal",
        "dialed": "2002",
        "disposition": "no_answer",
        "legs": [{"role": "callee", "number": "2002", "ringing_at": T0.isoformat(), "answered_at": None}],
        "violations": [{"rule": "ANS-1", "extension": "2002"}],
    }
    b.load_today(
        T0.astimezone().date(), [stored, {**stored, "call_id": "live", "disposition": "in_progress"}]
    )
    # Its events were queued while the database was read: they replay, and count nothing more.
    c = {"call_id": "old", "node": "n"}
    b.apply(
        {"event": "call.started", **c, "caller": "1001", "dialed": "2002", "direction": "internal"}, at(0)
    )
    b.apply({"event": "call.ringing", **c, "ext": "2002"}, at(1))
    b.apply({"event": "call.ended", "call_id": "old", "disposition": "no_answer"}, at(2))
    sales = next(d for d in b.view(None, same)["departments"] if d["id"] == "sales")
    assert (sales["offered"], sales["chances"], sales["answered_in_limit"]) == (1, 1, 0)


def test_a_call_readopted_after_a_restart_shows_talking() -> None:
    b = board()
    b.apply(
        {"event": "call.readopted", "call_id": "c3", "ext": "1001", "dialed": "2002", "leg_state": "Up"},
        at(0),
    )
    [talking] = b.view(None, same)["calls"]
    assert (talking["state"], talking["caller"], talking["dialed"]) == ("talking", "1001", "2002")
