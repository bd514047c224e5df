"""Budgets set with `callguard budget set`, and the alerts already given (LOG-4)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config._models import ServiceClass
from callguard.policy.budgets import Budget
from callguard.store.models import BudgetAlertRow, BudgetRow


async def stored_budgets(engine: AsyncEngine) -> list[Budget]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                BudgetRow.scope, BudgetRow.name, BudgetRow.amount, BudgetRow.action, BudgetRow.downgrade_to
            )
        )
        return [
            Budget(scope, name, Decimal(amount), action, ServiceClass(down or ServiceClass.local.value))
            for scope, name, amount, action, down in rows
        ]


async def set_budget(engine: AsyncEngine, budget: Budget, by: str, at: datetime | None = None) -> None:
    """Create or replace the stored budget of (scope, name)."""
    values = {
        "amount": budget.amount,
        "action": budget.action,
        "downgrade_to": budget.downgrade_to.value,
        "updated_by": by[:64],
        "updated_at": at or datetime.now(UTC),
    }
    where = (BudgetRow.scope == budget.scope) & (BudgetRow.name == budget.name)
    async with engine.begin() as conn:
        found = await conn.execute(update(BudgetRow).where(where).values(**values))
        if not found.rowcount:
            await conn.execute(insert(BudgetRow).values(scope=budget.scope, name=budget.name, **values))


async def record_alert(
    engine: AsyncEngine, budget: str, month: str, threshold_pct: int, spend: Decimal, at: datetime
) -> bool:
    """Note a threshold crossed; False when it was already noted (by this node or another):
    the unique key (budget, month, threshold) makes each alert happen once."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(BudgetAlertRow).values(
                    budget=budget, month=month, threshold_pct=threshold_pct, spend=spend, at=at
                )
            )
        return True
    except IntegrityError:
        return False


async def alerts_given(engine: AsyncEngine, month: str) -> set[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(BudgetAlertRow.budget, BudgetAlertRow.threshold_pct).where(BudgetAlertRow.month == month)
        )
        return {(str(b), int(p)) for b, p in rows}


async def remove_budget(engine: AsyncEngine, scope: str, name: str) -> bool:
    """Drop a stored budget (the config's, if any, applies again)."""
    async with engine.begin() as conn:
        result = await conn.execute(delete(BudgetRow).where(BudgetRow.scope == scope, BudgetRow.name == name))
        return bool(result.rowcount)
