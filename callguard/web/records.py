"""Call records for the console (LOG-3): the search, a call's whole story, and the rows that
pages, the JSON API and CSV exports share. What a viewer may reach comes from
`web.access.scope` (LOG-3); `web.call_rows` masks the numbers (SEC-2)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callguard.store.models import CallRow, LegRow, MessageRow, ViolationRow
from callguard.web.access import Org, Reach, Scope, people_where

Row = dict[str, Any]
DIRECTIONS = ("internal", "inbound", "outbound")
MAX_LIMIT = 1000
# fullmatch, not match with $: `$` also matches before a trailing newline ("OUT-1\n").
_RULE = re.compile(r"[A-Z]{2,5}-[0-9]{1,2}")
_DISPOSITION = re.compile(r"[a-z_]{1,32}")


@dataclass(frozen=True)
class CallSearch:
    start: datetime | None = None  # UTC, inclusive
    end: datetime | None = None  # UTC, exclusive
    person: str | None = None  # a directory id
    department: str | None = None
    number: str | None = None
    direction: str | None = None
    disposition: str | None = None
    rule: str | None = None  # a violation or decision of this rule (OUT-1, ANS-1...)
    limit: int = 200
    offset: int = 0

    def filters(self) -> dict[str, str]:
        """What the audit entry records (LOG-3): the filters given, as text."""
        out = {}
        for name in ("start", "end", "person", "department", "number", "direction", "disposition", "rule"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


def _when(key: str, text: str, tz: tzinfo | None) -> datetime:
    """A date (2026-11-01) or local time (2026-11-01T08:30) as UTC; a zone in the text wins."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{key}: {text!r} is not a date or time like 2026-11-01 or 2026-11-01T08:30"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz) if tz else value.astimezone()
    return value.astimezone(UTC)


def _choice(key: str, value: str | None, ok: Callable[[str], bool], what: str) -> str | None:
    if not value:
        return None
    if not ok(value):
        raise ValueError(f"{key}: {value!r} is not {what}")
    return value


def parse_search(params: Mapping[str, str], tz: tzinfo | None = None) -> CallSearch:
    """The search of `/calls?from=&to=&person=&department=&number=&direction=&disposition=&rule=`;
    a bad value is a one-line ValueError naming the parameter."""
    try:
        limit = int(params.get("limit") or 200)
        offset = int(params.get("offset") or 0)
    except ValueError:
        raise ValueError("limit, offset: whole numbers") from None
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValueError(f"limit: 1..{MAX_LIMIT}; offset: 0 or more")
    number = params.get("number") or None
    return CallSearch(
        start=_when("from", params["from"], tz) if params.get("from") else None,
        end=_when("to", params["to"], tz) if params.get("to") else None,
        person=params.get("person") or None,
        department=params.get("department") or None,
        number=_choice("number", number, lambda n: bool(re.fullmatch(r"\+?[0-9*#]{1,32}", n)), "a number"),
        direction=_choice(
            "direction", params.get("direction"), DIRECTIONS.__contains__, "|".join(DIRECTIONS)
        ),
        disposition=_choice(
            "disposition",
            params.get("disposition"),
            lambda d: bool(_DISPOSITION.fullmatch(d)),
            "a disposition",
        ),
        rule=_choice("rule", params.get("rule"), lambda r: bool(_RULE.fullmatch(r)), "a rule ID like OUT-1"),
        limit=limit,
        offset=offset,
    )


# --- SQL ----------------------------------------------------------------------------------------


def _touches(extensions: frozenset[str]) -> ColumnElement[bool]:
    """The call involved one of these lines: as caller, callee, or a phone that rang."""
    if not extensions:
        return false()
    rang = select(LegRow.call_pk).where(LegRow.number.in_(extensions))
    return or_(
        CallRow.caller_number.in_(extensions), CallRow.callee_number.in_(extensions), CallRow.id.in_(rang)
    )


def _of_departments(departments: frozenset[str], extensions: frozenset[str]) -> ColumnElement[bool]:
    """A department's call: its people called or were called, or one of its phones rang."""
    if not departments:
        return false()
    return or_(
        CallRow.caller_department.in_(departments),
        CallRow.callee_department.in_(departments),
        _touches(extensions),
    )


def scope_condition(scope: Scope) -> ColumnElement[bool]:
    """LOG-3: the calls a viewer's scope reaches (access.scope decides the scope)."""
    if scope.everything:
        return true()
    if scope.reach is Reach.departments:
        return _of_departments(scope.departments, scope.extensions)
    if scope.reach is Reach.own:
        return _touches(scope.extensions)
    return false()


def _has_rule(rule: str, violations: Scope) -> ColumnElement[bool]:
    """A violation of `rule` on the call that the viewer may read (LOG-3: else the search would
    tell a colleague's violation), or a decision citing it (decisions are JSON text)."""
    violated = select(ViolationRow.id).where(
        ViolationRow.rule == rule,
        ViolationRow.call_id == CallRow.call_id,
        ViolationRow.node == CallRow.node,
        people_where(violations, ViolationRow.person, ViolationRow.extension),
    )
    return or_(violated.exists(), cast(CallRow.decisions, String).like(f'%"rule": "{rule}"%'))


def search_condition(search: CallSearch, org: Org, violations: Scope) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if search.start is not None:
        parts.append(CallRow.started_at >= search.start)
    if search.end is not None:
        parts.append(CallRow.started_at < search.end)
    if search.person:
        parts.append(_touches(frozenset(org.lines_of.get(search.person, ()))))
    if search.department:
        dept = search.department
        parts.append(_of_departments(frozenset({dept}), frozenset(org.lines_in.get(dept, ()))))
    if search.number:
        parts.append(
            or_(
                CallRow.caller_number == search.number,
                CallRow.callee_number == search.number,
                CallRow.dialed == search.number,
            )
        )
    if search.direction:
        parts.append(CallRow.direction == search.direction)
    if search.disposition:
        parts.append(CallRow.disposition == search.disposition)
    if search.rule:
        parts.append(_has_rule(search.rule, violations))
    return and_(true(), *parts)


@dataclass
class StoredCall:
    call: CallRow
    violations: list[ViolationRow] = field(default_factory=list)
    message: MessageRow | None = None


async def _with_violations(session: AsyncSession, calls: list[CallRow]) -> list[StoredCall]:
    out = {(c.node, c.call_id): StoredCall(c) for c in calls}
    if not calls:
        return []
    ids = sorted({c.call_id for c in calls})
    rows = await session.execute(
        select(ViolationRow).where(ViolationRow.call_id.in_(ids)).order_by(ViolationRow.at, ViolationRow.id)
    )
    by_id = {c.call_id: out[(c.node, c.call_id)] for c in calls}  # rows from before node was kept
    for v in rows.scalars():
        stored = out.get((v.node, v.call_id)) if v.node else by_id.get(v.call_id)
        if stored is not None:
            stored.violations.append(v)
    return list(out.values())


async def search_calls(
    engine: AsyncEngine, search: CallSearch, scope: Scope, org: Org, violations: Scope
) -> list[StoredCall]:
    """The viewer's calls matching `search`, newest first, with their violations (`violations`:
    the viewer's scope for them, which the rule filter respects)."""
    stmt = (
        select(CallRow)
        .where(scope_condition(scope), search_condition(search, org, violations))
        .order_by(CallRow.started_at.desc(), CallRow.id.desc())
        .limit(search.limit)
        .offset(search.offset)
    )
    async with AsyncSession(engine) as session:
        calls = list((await session.execute(stmt)).scalars().all())
        return await _with_violations(session, calls)


async def find_call(engine: AsyncEngine, node: str, call_id: str, scope: Scope) -> StoredCall | None:
    """One call the viewer may read, with its legs, violations and message; else None."""
    stmt = select(CallRow).where(CallRow.node == node, CallRow.call_id == call_id, scope_condition(scope))
    async with AsyncSession(engine) as session:
        call = (await session.execute(stmt)).scalars().one_or_none()
        if call is None:
            return None
        (stored,) = await _with_violations(session, [call])
        stored.message = (
            await session.execute(
                select(MessageRow).where(MessageRow.node == node, MessageRow.call_id == call_id)
            )
        ).scalar_one_or_none()
        return stored
