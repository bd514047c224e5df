"""Issue 9: a call record has one JSON form (`records.codec`), the same in the journal, in the
store's listing and in the session's snapshot (LOG-1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from callguard.policy import Party
from callguard.records import IN_PROGRESS, CallRecord, from_json, to_json
from callguard.store import list_calls, make_engine, migrate, write_records
from tests.records import answered_record


def outside_record(call_id: str) -> CallRecord:
    """An authorised, priced outside call with a transfer: every kind of field the codec carries."""
    rec = answered_record(call_id)
    rec.direction, rec.dialed, rec.line = "outbound", "01012345678", "1001"
    rec.callee = Party("01012345678")
    rec.number_class, rec.authorized_by, rec.matter = "long_distance", "wang.li", "M-17"
    rec.cost, rec.tariff, rec.budget = Decimal("0.4400"), "cn-ld", "person:wang.li"
    assert rec.started_at is not None
    rec.transfers = [{"by": "1001", "to": "1003", "at": (rec.started_at + timedelta(seconds=5)).isoformat()}]
    rec.legs[0].rings_at_answer = 2
    return rec


def test_json_round_trip_keeps_every_field() -> None:
    rec = outside_record("o1")
    rec.caller = Party("1001", "王丽", "admin", department_name="行政部", person="wang.li", internal=True)
    rec.violations = [{"rule": "OUT-4", "reason": "over 30 min", "fine_yuan": "50"}]
    rec.message = {"for_ext": "1002", "left_at": "2026-11-22T10:01:00+00:00", "recording": "m1"}
    data = to_json(rec)
    assert data["cost"] == "0.4400" and data["caller"]["person"] == "wang.li"
    assert from_json(data) == rec and CallRecord.from_json(rec.as_json()) == rec


def test_no_callee_is_a_party_without_a_number() -> None:
    rec = replace(answered_record("u1"), callee=None, disposition="unknown_extension")
    data = to_json(rec)
    assert data["callee"] == {"number": None, "name": None, "department": None}
    assert from_json(data).callee is None


def test_provisional_is_a_copy_marked_in_progress() -> None:
    rec = outside_record("p1")
    snapshot = rec.provisional()
    snapshot.legs.clear()
    assert snapshot.disposition == IN_PROGRESS and rec.disposition == "answered" and len(rec.legs) == 2
    # What the call goes on to change after the snapshot does not reach it.
    again = rec.provisional()
    rec.legs[0].hangup_cause = 99
    rec.violations.append({"rule": "ANS-1"})
    rec.prompts.append("apology")
    rec.decisions[0]["changed"] = True
    assert again.legs[0].hangup_cause != 99 and again.violations == [] and again.prompts == []
    assert "changed" not in again.decisions[0]
    assert replace(again, disposition=rec.disposition) != rec


async def test_the_store_lists_a_call_in_the_codec_form(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    await migrate(engine)
    inside, outside, unknown = answered_record("i1"), outside_record("o1"), answered_record("u1")
    unknown.callee, unknown.disposition = None, "unknown_extension"
    await write_records(engine, [inside, outside, unknown])
    listed = {row["call_id"]: row for row in await list_calls(engine)}
    await engine.dispose()
    for rec in (inside, outside, unknown):
        expected = to_json(rec)
        del expected["violations"], expected["message"]  # the listing leaves these to their own
        assert listed[rec.call_id] == expected
        assert from_json(listed[rec.call_id]) == rec
