"""Call costs in the database (LOG-4): month spends per budget, and re-pricing a month."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.policy.budgets import Budget, month_bounds
from callguard.policy.tariffs import TariffTable, rate_call
from callguard.store.db import PROVISIONAL, Key, _keyed
from callguard.store.models import CallRow
from callguard.store.rows import aware


def _in_month(month: str) -> list[ColumnElement[bool]]:
    start, end = month_bounds(month)
    return [CallRow.started_at >= start, CallRow.started_at < end]


def _priced_in_month(month: str) -> list[ColumnElement[bool]]:
    # `cost IS NOT NULL` lets the planner take migration 0014's partial indexes: the internal
    # calls, most of a month, are never read for a sum they add nothing to.
    return [CallRow.cost.is_not(None), *_in_month(month)]


async def month_spend(engine: AsyncEngine, month: str, budgets: Iterable[Budget]) -> dict[str, Decimal]:
    """Recorded spend of each budget in a local month: a department's is every outside call its
    people and lines made, a person's the calls charged to their budget."""
    wanted = list(budgets)
    departments = [b.name for b in wanted if b.scope == "department"]
    persons = [b.key for b in wanted if b.scope == "person"]
    out = {b.key: Decimal(0) for b in wanted}
    async with engine.connect() as conn:
        if departments:
            rows = await conn.execute(
                select(CallRow.caller_department, func.sum(CallRow.cost))
                .where(CallRow.caller_department.in_(departments), *_priced_in_month(month))
                .group_by(CallRow.caller_department)
            )
            for name, total in rows:
                out[f"department:{name}"] = Decimal(total or 0)
        if persons:
            rows = await conn.execute(
                select(CallRow.budget, func.sum(CallRow.cost))
                .where(CallRow.budget.in_(persons), *_priced_in_month(month))
                .group_by(CallRow.budget)
            )
            for key, total in rows:
                out[str(key)] = Decimal(total or 0)
    return out


async def stored_final(engine: AsyncEngine, keys: Iterable[Key]) -> set[Key]:
    """Which of these calls the database holds a final record of (their cost is in month_spend)."""
    wanted = list(keys)
    if not wanted:
        return set()
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CallRow.node, CallRow.call_id).where(
                _keyed(CallRow.node, CallRow.call_id, wanted), CallRow.disposition.not_in(PROVISIONAL)
            )
        )
        return {(str(node), str(call_id)) for node, call_id in rows}


@dataclass(frozen=True)
class Rerated:
    calls: int  # answered outside calls in the month
    changed: int
    before: Decimal
    after: Decimal


async def rerate(engine: AsyncEngine, month: str, table: TariffTable) -> Rerated:
    """Re-price a month's answered outside calls with `table` (after a tariff correction)."""
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(
                    CallRow.id,
                    CallRow.callee_number,
                    CallRow.number_class,
                    CallRow.answered_at,
                    CallRow.ended_at,
                    CallRow.cost,
                    CallRow.tariff,
                ).where(
                    CallRow.direction == "outbound",
                    CallRow.answered_at.is_not(None),
                    CallRow.ended_at.is_not(None),
                    *_in_month(month),
                )
            )
        ).all()
        before = after = Decimal(0)
        changed = 0
        for pk, number, number_class, answered_at, ended_at, old_cost, old_tariff in rows:
            cost, tariff = rate_call(
                table, number or "", number_class or "", aware(answered_at), aware(ended_at)
            )
            before += Decimal(old_cost or 0)
            after += cost or 0
            if (cost, tariff) != (None if old_cost is None else Decimal(old_cost), old_tariff):
                changed += 1
                await conn.execute(update(CallRow).where(CallRow.id == pk).values(cost=cost, tariff=tariff))
        return Rerated(len(rows), changed, before.quantize(Decimal("0.01")), after.quantize(Decimal("0.01")))
