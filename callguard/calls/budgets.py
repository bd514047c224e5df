"""LOG-4 budgets at run time: this month's spend per budget, refreshed from the database (which
every node shares) plus what this node knows that the database does not yet: calls finished but
not yet stored, and the estimated cost so far of its answered outside calls in progress. The
snapshot is what OutboundPolicy decides from; thresholds crossed become alerts, once each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.config._models import BudgetSettings
from callguard.policy import OutboundPolicy
from callguard.policy.budgets import Budget, BudgetSnapshot, configured, crossed, month_of
from callguard.policy.tariffs import rate_call
from callguard.records import CallRecord
from callguard.store.budgets import alerts_given, record_alert, stored_budgets
from callguard.store.costs import month_spend, stored_final

log = structlog.get_logger("callguard.budgets")

Key = tuple[str, str]


def charged_keys(record: CallRecord) -> list[str]:
    """The budgets a call's cost counts against: its department's, and the person budget it was
    charged to (the same split as store.costs.month_spend)."""
    keys = [f"department:{record.caller.department}"] if record.caller.department else []
    if record.budget and record.budget.startswith("person:"):
        keys.append(record.budget)
    return keys


class BudgetKeeper:
    def __init__(
        self,
        engine: AsyncEngine,
        outbound: OutboundPolicy,
        settings: BudgetSettings,
        node: str,
        emit: Callable[..., None],
    ) -> None:
        self._engine = engine
        self._outbound = outbound
        self._settings = settings
        self._node = node
        self._emit = emit
        self.live: Callable[[], Iterable[CallRecord]] = list  # the node's calls in progress
        self._finished: dict[Key, CallRecord] = {}  # priced, not yet seen in the database
        self._recorded: dict[str, Decimal] = {}
        self._budgets: dict[str, Budget] = {}
        self._month = ""
        self._alerted: set[tuple[str, int]] = set()
        self._reported = False

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
                self._reported = False
            except Exception as exc:  # noqa: BLE001 - keep the last snapshot while the database is away
                if not self._reported:
                    log.warning("budgets.refresh_failed", error=repr(exc))
                    self._reported = True
            await asyncio.sleep(self._settings.refresh_s)

    async def refresh(self, now: datetime | None = None) -> None:
        at = now or datetime.now(UTC)
        month = month_of(at)
        if month != self._month:
            self._alerted = await alerts_given(self._engine, month)
            self._month = month
        self._budgets = configured(self._settings, await stored_budgets(self._engine))
        # Finished calls the database has are dropped before it is summed: a call stored in
        # between is counted twice for one refresh (stricter), never not at all.
        for key in await stored_final(self._engine, self._finished):
            self._finished.pop(key, None)
        self._recorded = await month_spend(self._engine, month, self._budgets.values())
        await self._alert(month, at)
        self._publish(at)

    def charge(self, record: CallRecord) -> None:
        """A call just finished with its cost: count it at once, before the database has it."""
        if record.cost and record.started_at and month_of(record.started_at) == self._month:
            self._finished[(record.node, record.call_id)] = record
            self._publish(datetime.now(UTC))

    def _spend(
        self, records: Iterable[CallRecord], cost: Callable[[CallRecord], Decimal | None]
    ) -> dict[str, Decimal]:
        spend = dict(self._recorded)
        for record in records:
            amount = cost(record)
            if amount:
                for key in charged_keys(record):
                    if key in spend:
                        spend[key] += amount
        return spend

    def _estimate(self, record: CallRecord, now: datetime) -> Decimal | None:
        """What an answered outside call in progress has cost so far."""
        if record.direction != "outbound" or record.answered_at is None or record.ended_at is not None:
            return None
        if (record.node, record.call_id) in self._finished or record.callee is None:
            return None
        cost, _ = rate_call(
            self._outbound.tariffs, record.callee.number, record.number_class or "", record.answered_at, now
        )
        return cost

    def _publish(self, now: datetime) -> None:
        spend = self._spend(self._finished.values(), lambda r: r.cost)
        live = [r for r in self.live() if r.ended_at is None]
        for record in live:
            estimate = self._estimate(record, now)
            for key in charged_keys(record) if estimate else ():
                if key in spend:
                    spend[key] += estimate or 0
        self._outbound.budgets = BudgetSnapshot(self._month, self._budgets, spend)

    async def _alert(self, month: str, at: datetime) -> None:
        """alert.budget_threshold for each threshold newly reached by the spend the database
        holds (the same figure on every node)."""
        spend = self._recorded
        for key, budget in self._budgets.items():
            for pct in crossed(budget.amount, spend.get(key, Decimal(0)), self._settings.thresholds_pct):
                if (key, pct) in self._alerted:
                    continue
                self._alerted.add((key, pct))
                if await record_alert(self._engine, key, month, pct, spend[key], at):
                    self._emit(
                        "alert.budget_threshold",
                        budget=key,
                        month=month,
                        threshold_pct=pct,
                        spend=str(spend[key].quantize(Decimal("0.01"))),
                        amount=str(budget.amount.quantize(Decimal("0.01"))),
                        action=budget.action if pct >= 100 else "alert",
                        rule="LOG-4",
                    )
