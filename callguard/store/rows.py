"""A call record <-> its database rows (LOG-1): the column mapping both ways, in one place.
The JSON form of a record is `records.codec`'s; this module only knows the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

from sqlalchemy import String

from callguard.policy import Party
from callguard.records import CallRecord, LegRecord
from callguard.store.models import Base, CallRow, LegRow, MessageRow, ViolationRow

MONEY_PLACES = Decimal("0.0001")  # the cost column's scale: Numeric(12, 4)


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value and value.tzinfo else value


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything callguard stores is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def iso(value: datetime | None) -> str | None:
    stamp = aware(value)
    return stamp.isoformat() if stamp is not None else None


def _text(value: Any, size: int | None) -> Any:
    if value is None:
        return None
    # PostgreSQL refuses NUL in text; a caller ID or a name is untrusted input.
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "")
    return text[:size] if size else text


def fit(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """Every string clipped to its column: an over-long caller ID, name or reason must not make
    the database refuse the whole record (LOG-1). The decisions (JSON) keep what the policy saw."""
    columns = model.__table__.columns
    out = {}
    for key, value in values.items():
        kind = columns[key].type
        out[key] = _text(value, kind.length) if isinstance(kind, String) else value
    return out


def call_values(record: CallRecord) -> dict[str, Any]:
    callee = record.callee
    return fit(
        CallRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "direction": record.direction,
            "dialed": record.dialed,
            "caller_number": record.caller.number,
            "caller_name": record.caller.name,
            "caller_department": record.caller.department,
            "caller_line": record.line,
            "callee_number": callee.number if callee else None,
            "callee_name": callee.name if callee else None,
            "callee_department": callee.department if callee else None,
            "started_at": utc(record.started_at),
            "ringing_at": utc(record.ringing_at),
            "answered_at": utc(record.answered_at),
            "ended_at": utc(record.ended_at),
            "talk_s": record.talk_s,
            "disposition": record.disposition,
            "hangup_cause": record.hangup_cause,
            "hangup_by": record.hangup_by,
            "decisions": record.decisions,
            "readopted": record.readopted,
            "number_class": record.number_class,
            "authorized_by": record.authorized_by,
            "matter": record.matter,
            "transfers": record.transfers or None,
            "cost": record.cost,  # LOG-4
            "tariff": record.tariff,
            "budget": record.budget,
            "recording": record.recording,  # LOG-6
            "prompts": record.prompts or None,
            "handled_by": record.handled_by,  # LOG-1
        },
    )


def leg_values(leg: LegRecord) -> dict[str, Any]:
    """Without `call_pk`: the call's row id is known once its row is inserted."""
    return fit(
        LegRow,
        {
            "role": leg.role,
            "channel_id": leg.channel_id,
            "number": leg.number,
            "started_at": utc(leg.started_at),
            "ringing_at": utc(leg.ringing_at),
            "answered_at": utc(leg.answered_at),
            "ended_at": utc(leg.ended_at),
            "hangup_cause": leg.hangup_cause,
            "hangup_cause_text": leg.hangup_cause_text,
            "rings_at_answer": leg.rings_at_answer,
        },
    )


def violation_values(record: CallRecord, violation: dict[str, Any]) -> dict[str, Any]:
    at = violation.get("at")
    return fit(
        ViolationRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "rule": violation["rule"],
            "extension": violation.get("extension") or record.caller.number,
            "person": violation.get("person"),
            "reason": violation.get("reason", ""),
            "fine_yuan": Decimal(str(violation.get("fine_yuan") or 0)),
            "severity": violation.get("severity", "minor"),
            "at": utc(datetime.fromisoformat(at)) if at else utc(record.ended_at or record.started_at),
        },
    )


def message_values(record: CallRecord) -> dict[str, Any]:
    message = record.message or {}
    return fit(
        MessageRow,
        {
            "call_id": record.call_id,
            "node": record.node,
            "for_ext": message["for_ext"],
            "for_person": message.get("for_person"),
            "caller_number": message.get("caller_number") or "",
            "caller_name": message.get("caller_name"),
            "left_at": utc(datetime.fromisoformat(message["left_at"])),
            "duration_s": message.get("duration_s"),
            "recording": message["recording"],
        },
    )


def _leg(row: LegRow) -> LegRecord:
    return LegRecord(
        role=row.role,
        channel_id=row.channel_id,
        number=row.number,
        started_at=aware(row.started_at),
        ringing_at=aware(row.ringing_at),
        answered_at=aware(row.answered_at),
        ended_at=aware(row.ended_at),
        hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text,
        rings_at_answer=row.rings_at_answer,
    )


def _callee(row: CallRow) -> Party | None:
    if row.callee_number is None:
        return None
    return Party(row.callee_number, row.callee_name, row.callee_department)


def call_record(row: CallRow) -> CallRecord:
    """The record a call row (with its legs) stores: `call_values` read back. Its violations
    and message live in their own tables and are not read here."""
    return CallRecord(
        call_id=row.call_id,
        node=row.node,
        direction=row.direction,
        dialed=row.dialed,
        caller=Party(row.caller_number, row.caller_name, row.caller_department),
        callee=_callee(row),
        line=row.caller_line,
        started_at=aware(row.started_at),
        ringing_at=aware(row.ringing_at),
        answered_at=aware(row.answered_at),
        ended_at=aware(row.ended_at),
        disposition=row.disposition,
        hangup_cause=row.hangup_cause,
        hangup_by=row.hangup_by,
        decisions=row.decisions,
        legs=[_leg(leg) for leg in row.legs],
        readopted=row.readopted,
        number_class=row.number_class,
        authorized_by=row.authorized_by,
        matter=row.matter,
        transfers=row.transfers or [],
        cost=None if row.cost is None else Decimal(row.cost).quantize(MONEY_PLACES),  # LOG-4: exact
        tariff=row.tariff,
        budget=row.budget,
        recording=row.recording,  # LOG-6
        prompts=list(row.prompts or []),
        handled_by=row.handled_by,  # LOG-1: callguard | dialplan
    )
