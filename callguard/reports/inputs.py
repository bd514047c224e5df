"""What a bill reads besides the calls: the budgets in force, who uses each extension, department names
(LOG-4). Shared by `callguard bill`, the demo and the console."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from callguard.config import Config
from callguard.reports.bills import Who

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

BillInputs = tuple[Mapping[str, Decimal], Mapping[str, Who], Mapping[str, str]]


def directory_maps(config: Config | None) -> tuple[dict[str, Who], dict[str, str]]:
    """Extension -> who uses it, department id -> name, from the directory (empty without)."""
    if config is None:
        return {}, {}
    d = config.directory
    people = {p.id: p for p in d.people}
    who: dict[str, Who] = {}
    for line in d.lines:
        person = people.get(line.person or "")
        if person is not None:
            who[line.extension] = Who(person.id, person.name, person.department)
        else:
            who[line.extension] = Who(line.extension, line.label or line.extension, line.department or "-")
    return who, {dep.id: dep.name for dep in d.departments}


async def bill_inputs(engine: AsyncEngine, config: Config | None) -> BillInputs:
    """Budgets (config, overridden by `callguard budget set`), people and department names."""
    from callguard.config._models import BudgetSettings
    from callguard.policy.budgets import configured
    from callguard.store.budgets import stored_budgets

    settings = config.budgets if config is not None else BudgetSettings()
    budgets = {key: b.amount for key, b in configured(settings, await stored_budgets(engine)).items()}
    who, names = directory_maps(config)
    return budgets, who, names
