"""A call as the console shows it: one flat row per call for lists (the same row in HTML, JSON
and CSV), and a call's whole story. Numbers pass through access.mask for the viewer (SEC-2); times are
stored UTC and shown in local time."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from callguard.reports.money import cents
from callguard.reports.render import excel_safe
from callguard.store.models import CallRow, LegRow, MessageRow, ViolationRow
from callguard.store.rows import aware
from callguard.web.access import Scope, Viewer, mask_record, scope
from callguard.web.access import mask as mask_number
from callguard.web.records import Row, StoredCall

CALL_COLUMNS = (
    "started",
    "direction",
    "caller",
    "caller_name",
    "caller_department",
    "callee",
    "callee_name",
    "callee_department",
    "dialed",
    "disposition",
    "rings",
    "talk_s",
    "cost_yuan",
    "matter",
    "rules",
    "node",
    "call_id",
)


def cells(rows: list[Row]) -> list[Row]:
    """Rows for a CSV export: a caller's name is whatever the caller ID said, and Excel runs a
    cell starting with = + - @ as a formula; such cells get a leading ' (reports.render)."""
    return [{k: excel_safe(v) for k, v in row.items()} for row in rows]


def local(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """ISO local time with its offset (2026-11-23T15:40:00+08:00): unambiguous, and local."""
    if value is None:
        return None
    return aware(value).astimezone(tz).isoformat(timespec="seconds")


def _rings(legs: list[LegRow]) -> int | None:
    """How many rings the caller waited before a company phone answered (ANS-1)."""
    for leg in legs:
        if leg.role == "callee" and leg.answered_at is not None and leg.rings_at_answer is not None:
            return int(leg.rings_at_answer)
    return None


def reaches(reach: Scope, person: str | None, extension: str | None) -> bool:
    """LOG-3 for one row already read (a violation, a message): access.people_where in Python."""
    if reach.everything:
        return True
    return not reach.refused and (person in reach.people or extension in reach.extensions)


def readable_violations(stored: StoredCall, viewer: Viewer) -> list[ViolationRow]:
    """The call's violations this viewer may read: a call's story or its rules column must not
    show a violation that /violations would not (LOG-3: a colleague's, another department's)."""
    reach = scope(viewer, "violations")
    return [v for v in stored.violations if reaches(reach, v.person, v.extension)]


def readable_message(stored: StoredCall, viewer: Viewer) -> MessageRow | None:
    m = stored.message
    return m if m is not None and reaches(scope(viewer, "messages"), m.for_person, m.for_ext) else None


def _rules(stored: StoredCall, viewer: Viewer) -> str:
    rules = [v.rule for v in readable_violations(stored, viewer)]
    rules += [str(d["rule"]) for d in stored.call.decisions or [] if isinstance(d, dict) and d.get("rule")]
    return " ".join(dict.fromkeys(rules))  # in order, once each


def call_row(stored: StoredCall, viewer: Viewer, tz: tzinfo | None = None) -> Row:
    c: CallRow = stored.call
    return {
        "started": local(c.started_at, tz),
        "direction": c.direction,
        "caller": mask_number(viewer, c.caller_number),
        "caller_name": c.caller_name,
        "caller_department": c.caller_department,
        "callee": mask_number(viewer, c.callee_number) if c.callee_number else None,
        "callee_name": c.callee_name,
        "callee_department": c.callee_department,
        "dialed": mask_number(viewer, c.dialed),
        "disposition": c.disposition,
        "rings": _rings(list(c.legs)),
        "talk_s": round(c.talk_s, 1) if c.talk_s is not None else None,
        "cost_yuan": cents(Decimal(c.cost)) if c.cost is not None else None,
        "matter": c.matter,
        "rules": _rules(stored, viewer),
        "node": c.node,
        "call_id": c.call_id,
    }


def _prompts(c: CallRow) -> list[str]:
    """The prompts the caller heard, as the record knows them: greetings and refusals from the
    decisions, and the record's own list where the call engine keeps one."""
    kept = getattr(c, "prompts", None)  # the record's own list, where the store keeps one
    if kept:
        return [str(p) for p in kept]
    heard: list[str] = []
    for d in c.decisions or []:
        if isinstance(d, dict):
            heard += [str(d[k]) for k in ("greeting", "prompt") if d.get(k)]
            heard += [str(p) for p in d.get("prompts", []) if p]
    return heard


def _leg(leg: LegRow, viewer: Viewer, tz: tzinfo | None) -> Row:
    return {
        "role": leg.role,
        "number": mask_number(viewer, leg.number),
        "started": local(leg.started_at, tz),
        "ringing": local(leg.ringing_at, tz),
        "answered": local(leg.answered_at, tz),
        "ended": local(leg.ended_at, tz),
        "rings_at_answer": leg.rings_at_answer,
        "hangup": leg.hangup_cause_text or leg.hangup_cause,
    }


def violation_row(v: ViolationRow, viewer: Viewer, tz: tzinfo | None = None) -> Row:
    deadline = v.appeal_by
    return {
        "id": v.id,
        "at": local(v.at, tz),
        "rule": v.rule,
        "person": v.person,
        "extension": mask_number(viewer, v.extension),
        "reason": mask_record(viewer, v.reason, "reason"),  # SEC-2: it may quote the number dialled
        "severity": v.severity,
        "step": v.step,
        "fine_yuan": cents(Decimal(v.fine_yuan)),
        "status": v.status,
        "appeal_by": deadline.isoformat() if isinstance(deadline, date) else None,
        "node": v.node,
        "call_id": v.call_id,
    }


def message_row(m: MessageRow, viewer: Viewer, tz: tzinfo | None = None) -> Row:
    return {
        "id": m.id,
        "left": local(m.left_at, tz),
        "for_ext": m.for_ext,
        "for_person": m.for_person,
        "caller": mask_number(viewer, m.caller_number),
        "caller_name": m.caller_name,
        "duration_s": round(m.duration_s, 1) if m.duration_s is not None else None,
        "passed_on": local(m.done_at, tz),
        "passed_on_by": m.done_by,
        "node": m.node,
        "call_id": m.call_id,
    }


def call_story(stored: StoredCall, viewer: Viewer, tz: tzinfo | None = None) -> Row:
    """Everything the record says about one call: legs and rings, prompts, decisions with their
    rule IDs, transfers, cost, matter, violations and the message left: the violations and the
    message only as far as the viewer's violations and messages scope reach (LOG-3)."""
    c = stored.call
    message = readable_message(stored, viewer)
    return {
        **call_row(stored, viewer, tz),
        "ringing": local(c.ringing_at, tz),
        "answered": local(c.answered_at, tz),
        "ended": local(c.ended_at, tz),
        "hangup_cause": c.hangup_cause,
        "hangup_by": c.hangup_by,
        "line": c.caller_line,
        "number_class": c.number_class,
        "authorized_by": c.authorized_by,
        "tariff": c.tariff,
        "budget": c.budget,
        "handled_by": c.handled_by,
        "readopted": c.readopted,
        "legs": [_leg(leg, viewer, tz) for leg in c.legs],
        "prompts": _prompts(c),
        "decisions": mask_record(viewer, list(c.decisions or [])),
        "transfers": mask_record(viewer, list(c.transfers or [])),
        "violations": [violation_row(v, viewer, tz) for v in readable_violations(stored, viewer)],
        "message": message_row(message, viewer, tz) if message else None,
        # LOG-6: a sampled call's supervision recording, for the roles that may play recordings.
        "recording_audio": (
            f"/recordings/{c.id}/audio" if c.recording and not scope(viewer, "recordings").refused else None
        ),
    }
