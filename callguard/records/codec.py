"""The one JSON form of a call record: written to the journal, printed by `calls list --json`,
and what the store's listings return (LOG-1). Datetimes are ISO 8601, money a decimal string."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from callguard.policy import Party
from callguard.records.call import CallRecord, LegRecord

_LEG_TIMES = ("started_at", "ringing_at", "answered_at", "ended_at")


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # money stays exact in JSON: "0.44"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# What the store keeps of a party; a party's other facts (person, line kind...) are written
# only when they differ from their defaults, so a stored record and a journalled one read the same.
_PARTY_KEPT = ("number", "name", "department")
_PARTY_DEFAULTS = {f.name: f.default for f in fields(Party)}


def _party(known: dict[str, Any] | None) -> dict[str, Any]:
    """A party as JSON; no callee (nobody was dialled) is a party without a number."""
    if known is None:
        return dict.fromkeys(_PARTY_KEPT)
    return {k: v for k, v in known.items() if k in _PARTY_KEPT or v != _PARTY_DEFAULTS[k]}


def to_json(record: CallRecord) -> dict[str, Any]:
    data: dict[str, Any] = _json_safe(asdict(record))
    data["caller"], data["callee"] = _party(data["caller"]), _party(data["callee"])
    data["talk_s"] = record.talk_s
    return data


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _leg(data: dict[str, Any]) -> LegRecord:
    return LegRecord(**{**data, **{k: _time(data.get(k)) for k in _LEG_TIMES}})


def from_json(data: dict[str, Any]) -> CallRecord:
    return CallRecord(
        call_id=data["call_id"],
        node=data["node"],
        direction=data["direction"],
        dialed=data["dialed"],
        caller=Party(**data["caller"]),
        callee=Party(**data["callee"]) if (data.get("callee") or {}).get("number") is not None else None,
        started_at=_time(data.get("started_at")),
        ringing_at=_time(data.get("ringing_at")),
        answered_at=_time(data.get("answered_at")),
        ended_at=_time(data.get("ended_at")),
        disposition=data.get("disposition", "unknown"),
        hangup_cause=data.get("hangup_cause"),
        hangup_by=data.get("hangup_by"),
        decisions=list(data.get("decisions", [])),
        legs=[_leg(leg) for leg in data.get("legs", [])],
        readopted=bool(data.get("readopted", False)),
        number_class=data.get("number_class"),
        authorized_by=data.get("authorized_by"),
        matter=data.get("matter"),
        violations=list(data.get("violations", [])),
        transfers=list(data.get("transfers", [])),
        message=data.get("message"),
        line=data.get("line"),
        cost=Decimal(data["cost"]) if data.get("cost") is not None else None,
        tariff=data.get("tariff"),
        budget=data.get("budget"),
        recording=data.get("recording"),  # LOG-6
        prompts=[str(p) for p in data.get("prompts") or []],
        handled_by=data.get("handled_by") or "callguard",
    )
