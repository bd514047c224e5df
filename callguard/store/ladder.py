"""LOG-5 in the database: violations stored with their ladder step, appeals, decisions and
the history of every change (violation_events). The rules are callguard.policy.ladder's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callguard.policy.ladder import (
    APPEALED,
    COUNTING,
    OPEN,
    OVERTURNED,
    UPHELD,
    AppealError,
    Earlier,
    Ladder,
    check_appeal,
    check_decision,
)
from callguard.store.models import ViolationEventRow, ViolationRow
from callguard.store.rows import aware

SYSTEM = "callguard"  # who assigns steps


def _deciding(
    conn: Connection, ladder: Ladder, values: dict[str, Any], at: datetime
) -> list[tuple[int, Earlier]]:
    """The person's latest stored violations that count for one at `at` (Ladder.counting's terms),
    oldest first, no more than decide its step: a person with a thousand in the window costs
    one indexed query, not a thousand rows read per violation."""
    if not ladder.is_laddered(values["person"], values["severity"]):
        return []
    rows = conn.execute(
        select(ViolationRow.id, ViolationRow.at, ViolationRow.step, ViolationRow.status)
        .where(
            ViolationRow.person == values["person"],
            ViolationRow.step.is_not(None),
            ViolationRow.status.in_(COUNTING),
            ViolationRow.at >= ladder.window_start(at),
            ViolationRow.at <= at,
        )
        .order_by(ViolationRow.at.desc(), ViolationRow.id.desc())
        .limit(ladder.deciding(values["rule"], values["severity"]))
    )
    return [(int(i), Earlier(aware(a), step, status)) for i, a, step, status in reversed(rows.all())]


def _event(
    violation_id: int, at: datetime, action: str, by: str, reason: str, **detail: Any
) -> dict[str, Any]:
    return {
        "violation_id": violation_id,
        "at": at,
        "action": action,
        "by": by[:64],
        "reason": reason[:512],
        "detail": detail or None,
    }


def insert_violations(conn: Connection, batch: list[dict[str, Any]], ladder: Ladder) -> None:
    """Insert the ledger rows of `batch` (in the writer's transaction), each with the step the
    person's history gives it: earlier violations in the window, those of this batch included,
    not overturned. The step, once stored, is kept."""
    now = datetime.now(UTC)
    for values in sorted(batch, key=lambda v: aware(v["at"])):
        at = aware(values["at"])
        earlier = _deciding(conn, ladder, values, at)
        given = ladder.assign(
            values["rule"],
            values["severity"],
            values["person"],
            at.astimezone(),  # the appeal deadline counts from the local day
            Decimal(str(values["fine_yuan"])),
            [e for _, e in earlier],
        )
        step = given.step.value if given.step else None
        row = {
            **values,
            "step": step,
            "status": OPEN,
            "appeal_by": given.appeal_by,
            "fine_yuan": given.fine,
        }
        ident = int(conn.execute(insert(ViolationRow).values(row).returning(ViolationRow.id)).scalar_one())
        if step is None:
            continue
        detail = {
            "step": step,
            "counted": [i for i, _ in earlier],  # the latest ones, as many as decide the step
            "window_days": ladder.settings.window_days,
            "fine_yuan": str(given.fine),
            "appeal_by": given.appeal_by.isoformat() if given.appeal_by else None,
        }
        conn.execute(insert(ViolationEventRow), [_event(ident, now, "step_assigned", SYSTEM, "", **detail)])


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return (aware(value) if isinstance(value, datetime) else value).isoformat()


def violation_dict(r: ViolationRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "call_id": r.call_id,
        "rule": r.rule,
        "extension": r.extension,
        "person": r.person,
        "reason": r.reason,
        "fine_yuan": Decimal(r.fine_yuan),
        "severity": r.severity,
        "at": _iso(r.at),
        "step": r.step,
        "status": r.status,
        "appeal_by": _iso(r.appeal_by),
    }


async def _load(conn: AsyncConnection, violation_id: int, lock: bool = True) -> ViolationRow:
    stmt = select(ViolationRow).where(ViolationRow.id == violation_id)
    row = (await conn.execute(stmt.with_for_update() if lock else stmt)).one_or_none()
    if row is None:
        raise AppealError(f"violation {violation_id}: no such violation")
    return ViolationRow(**row._asdict())


async def _change(
    conn: AsyncConnection, row: ViolationRow, to: str, action: str, by: str, reason: str, now: datetime
) -> None:
    result = await conn.execute(
        update(ViolationRow)
        .where(ViolationRow.id == row.id, ViolationRow.status == row.status)
        .values(status=to)
    )
    if not result.rowcount:  # another administrator changed it in the meantime
        raise AppealError(f"violation {row.id}: changed meanwhile, look again")
    await conn.execute(
        insert(ViolationEventRow), [_event(row.id, now, action, by, reason, status_before=row.status)]
    )
    row.status = to


async def appeal(
    engine: AsyncEngine, violation_id: int, reason: str, by: str | None, now: datetime
) -> dict[str, Any]:
    """The person appeals (by default `by` is the violation's person) before the deadline."""
    if not reason.strip():
        raise AppealError("--reason: say why")
    async with engine.begin() as conn:
        row = await _load(conn, violation_id)
        try:
            check_appeal(row.status, row.step, row.appeal_by, aware(now).astimezone().date())
        except AppealError as exc:
            raise AppealError(f"violation {violation_id} cannot be appealed: {exc}") from None
        await _change(conn, row, APPEALED, "appealed", by or row.person or "-", reason, aware(now))
        return violation_dict(row)


async def decide(
    engine: AsyncEngine, violation_id: int, uphold: bool, reason: str, by: str, now: datetime
) -> dict[str, Any]:
    """An administrator upholds or overturns; an overturned violation no longer counts for the
    steps of the person's later violations (steps already given are kept)."""
    if not reason.strip() or not by.strip():
        raise AppealError("--reason and --by: say why and who decides")
    async with engine.begin() as conn:
        row = await _load(conn, violation_id)
        try:
            check_decision(row.status)
        except AppealError as exc:
            raise AppealError(f"violation {violation_id} cannot be decided: {exc}") from None
        to = UPHELD if uphold else OVERTURNED
        await _change(conn, row, to, to, by, reason, aware(now))
        return violation_dict(row)


async def violation_history(engine: AsyncEngine, violation_id: int) -> dict[str, Any]:
    """A violation with every change made to it, in order."""
    async with engine.connect() as conn:
        row = await _load(conn, violation_id, lock=False)
        events = await conn.execute(
            select(ViolationEventRow)
            .where(ViolationEventRow.violation_id == violation_id)
            .order_by(ViolationEventRow.id)  # the order the changes were made
        )
        return {
            **violation_dict(row),
            "events": [
                {"at": _iso(e.at), "action": e.action, "by": e.by, "reason": e.reason, "detail": e.detail}
                for e in events
            ],
        }
