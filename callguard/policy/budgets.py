"""Monthly budgets (LOG-4), pure: which budgets a caller's calls are charged to, what their spend
means at call start (alert / downgrade / block), which alert thresholds a spend has crossed.
A month is "YYYY-MM" in the PBX's local time; spends are Decimal 元."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from callguard.config._models import BudgetSettings, ServiceClass

SCOPES = ("person", "department")
ACTIONS = ("alert", "downgrade", "block")
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_CLASS_ORDER = list(ServiceClass)


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # "person" or "department"
    name: str  # the person's or department's id
    amount: Decimal
    action: str = "alert"
    downgrade_to: ServiceClass = ServiceClass.local

    @property
    def key(self) -> str:
        """How records and alerts name it: "person:wang.li", "department:sales"."""
        return f"{self.scope}:{self.name}"


def month_of(at: datetime) -> str:
    """The local month a moment belongs to (a call: its local start time)."""
    return at.astimezone().strftime("%Y-%m")


def valid_month(month: str) -> bool:
    return bool(_MONTH.match(month))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a local month, in UTC."""
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1).astimezone()
    end = datetime(year + mon // 12, mon % 12 + 1, 1).astimezone()
    return start.astimezone(UTC), end.astimezone(UTC)


def crossed(amount: Decimal, spend: Decimal, thresholds_pct: Iterable[int]) -> list[int]:
    """The thresholds (percent of `amount`) that `spend` has reached."""
    return [pct for pct in thresholds_pct if spend * 100 >= amount * pct]


def configured(settings: BudgetSettings, stored: Iterable[Budget] = ()) -> dict[str, Budget]:
    """Budgets from config, overridden by those set with `callguard budget set` (the database)."""
    out: dict[str, Budget] = {}
    for scope in SCOPES:
        for entry in getattr(settings, scope):
            budget = Budget(scope, entry.name, entry.amount, entry.action, entry.downgrade_to)
            out[budget.key] = budget
    for budget in stored:
        out[budget.key] = budget
    return out


def _strictness(budget: Budget) -> tuple[int, int]:
    if budget.action == "block":
        return (2, 0)
    if budget.action == "downgrade":
        return (1, len(_CLASS_ORDER) - _CLASS_ORDER.index(budget.downgrade_to))
    return (0, 0)


@dataclass(frozen=True)
class BudgetSnapshot:
    """This month's budgets and spends as one node sees them: recorded spend from the database
    plus the estimated cost of this node's calls in progress."""

    month: str
    budgets: dict[str, Budget] = field(default_factory=dict)
    spend: dict[str, Decimal] = field(default_factory=dict)

    def applicable(self, person: str | None, department: str | None) -> list[Budget]:
        """The person's budget and their department's: both apply to their calls."""
        keys = [f"person:{person}" if person else None, f"department:{department}" if department else None]
        return [self.budgets[k] for k in keys if k is not None and k in self.budgets]

    def charged_to(self, person: str | None, department: str | None) -> str | None:
        """The budget a call is registered against: the person's if they have one, else the
        department's (a person's spend is part of their department's either way)."""
        budgets = self.applicable(person, department)
        return budgets[0].key if budgets else None

    def exhausted(self, budget: Budget) -> bool:
        return self.spend.get(budget.key, Decimal(0)) >= budget.amount

    def limit(self, person: str | None, department: str | None) -> Budget | None:
        """The strictest exhausted budget that restricts calls (block, else the lowest
        downgrade), or None: calls go as their class allows."""
        limiting = [
            b for b in self.applicable(person, department) if b.action != "alert" and self.exhausted(b)
        ]
        return max(limiting, key=_strictness, default=None)


def counted_against(charged_to: str | None, department: str | None) -> set[str]:
    """The budgets a call's cost uses up: one definition for live enforcement
    (store.costs.month_spend) and for the bills. Its department's budget, whoever in the
    department made it, and the person budget it was charged to, if it was."""
    keys = {f"department:{department}"} if department else set()
    if charged_to and charged_to.startswith("person:"):
        keys.add(charged_to)
    return keys
