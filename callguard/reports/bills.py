"""The monthly phone bill (LOG-4, 每月公布话费账单): per department and person, outside calls,
minutes and cost by number class, budget and use, and the most expensive calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from callguard.policy.budgets import counted_against
from callguard.reports.money import ZERO, money

Row = dict[str, Any]
TOP_CALLS = 10
UNCLASSIFIED = "unclassified"
NO_DEPARTMENT = "-"


@dataclass
class Usage:
    """Billed calls: outside calls that were answered (a refused or unanswered attempt costs
    nothing and is not on the bill)."""

    calls: int = 0
    seconds: float = 0.0
    cost: Decimal = ZERO
    unpriced: int = 0  # answered outside calls with no cost on record (no tariff matched)

    def add(self, row: Row) -> None:
        self.calls += 1
        self.seconds += float(row.get("talk_s") or 0.0)
        cost = money(row.get("cost"))
        if cost is None:
            self.unpriced += 1
        else:
            self.cost += cost

    @property
    def minutes(self) -> Decimal:
        return (Decimal(str(self.seconds)) / 60).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class BudgetUse:
    key: str  # "department:sales", "person:wang.li"
    amount: Decimal | None  # None: no budget set
    spent: Decimal = ZERO

    @property
    def used_pct(self) -> Decimal | None:
        if not self.amount:
            return None
        return (self.spent * 100 / self.amount).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class PersonBill:
    person: str  # the directory id, else the line's number
    name: str
    number: str
    department: str
    total: Usage = field(default_factory=Usage)
    by_class: dict[str, Usage] = field(default_factory=dict)
    budget: BudgetUse | None = None


@dataclass
class DepartmentBill:
    department: str
    name: str
    total: Usage = field(default_factory=Usage)
    by_class: dict[str, Usage] = field(default_factory=dict)
    people: list[PersonBill] = field(default_factory=list)
    budget: BudgetUse | None = None


@dataclass
class TopCall:
    started_at: datetime | None
    department: str
    name: str
    number: str
    dialed: str
    number_class: str
    seconds: float
    cost: Decimal | None
    matter: str | None
    tariff: str | None


@dataclass
class Bill:
    month: str
    department: str | None  # the one department asked for, or None for the whole company
    total: Usage
    by_class: dict[str, Usage]
    departments: list[DepartmentBill]
    top_calls: list[TopCall]
    budgets: list[BudgetUse]  # every budget the month's calls touch or that is set


@dataclass(frozen=True)
class Who:
    """What the directory says about an extension (optional: records name people already)."""

    person: str
    name: str
    department: str


def billed(row: Row) -> bool:
    return row.get("direction") == "outbound" and row.get("answered_at") is not None


def _who(row: Row, people: Mapping[str, Who]) -> Who:
    number = str(row.get("caller_number") or "")
    found = people.get(number)
    if found is not None:
        return found
    return Who(
        number, str(row.get("caller_name") or number), str(row.get("caller_department") or NO_DEPARTMENT)
    )


def budget_spend(rows: list[Row]) -> dict[str, Decimal]:
    """What each budget's billed calls cost (LOG-4)."""
    spent: dict[str, Decimal] = {}
    for row in rows:
        budget, department = row.get("budget"), row.get("caller_department")
        for key in counted_against(str(budget) if budget else None, str(department) if department else None):
            spent[key] = spent.get(key, ZERO) + (money(row.get("cost")) or ZERO)
    return spent


def _use(key: str, budgets: Mapping[str, Decimal], spent: Mapping[str, Decimal]) -> BudgetUse | None:
    if key not in budgets and key not in spent:
        return None
    return BudgetUse(key, budgets.get(key), spent.get(key, ZERO))


def _top(rows: list[Row], people: Mapping[str, Who], n: int) -> list[TopCall]:
    ranked = sorted(rows, key=lambda r: (money(r.get("cost")) or ZERO, r.get("talk_s") or 0.0), reverse=True)
    out = []
    for row in ranked[:n]:
        who = _who(row, people)
        out.append(
            TopCall(
                started_at=row.get("started_at"),
                department=who.department,
                name=who.name,
                number=str(row.get("caller_number") or ""),
                dialed=str(row.get("dialed") or ""),
                number_class=str(row.get("number_class") or UNCLASSIFIED),
                seconds=float(row.get("talk_s") or 0.0),
                cost=money(row.get("cost")),
                matter=row.get("matter"),
                tariff=row.get("tariff"),
            )
        )
    return out


def _tally(
    rows: list[Row], people: Mapping[str, Who], names: Mapping[str, str]
) -> tuple[Usage, dict[str, Usage], dict[str, DepartmentBill]]:
    """Each billed call counted once in the total, its department and its person, by class."""
    total, by_class = Usage(), dict[str, Usage]()
    depts: dict[str, DepartmentBill] = {}
    persons: dict[tuple[str, str], PersonBill] = {}
    for row in rows:
        who = _who(row, people)
        cls = str(row.get("number_class") or UNCLASSIFIED)
        dept = depts.setdefault(
            who.department, DepartmentBill(who.department, names.get(who.department, who.department))
        )
        person = persons.get((who.department, who.person))
        if person is None:
            person = PersonBill(who.person, who.name, str(row.get("caller_number") or ""), who.department)
            persons[(who.department, who.person)] = person
            dept.people.append(person)
        for usage in (total, dept.total, person.total):
            usage.add(row)
        for classes in (by_class, dept.by_class, person.by_class):
            classes.setdefault(cls, Usage()).add(row)
    return total, by_class, depts


def _settle(
    depts: dict[str, DepartmentBill], budgets: Mapping[str, Decimal], spent: Mapping[str, Decimal]
) -> None:
    """Classes in order, people by cost, and each department's and person's budget use."""
    for dept in depts.values():
        dept.by_class = dict(sorted(dept.by_class.items()))
        dept.budget = _use(f"department:{dept.department}", budgets, spent)
        dept.people.sort(key=lambda p: (-p.total.cost, p.name))
        for person in dept.people:
            person.by_class = dict(sorted(person.by_class.items()))
            person.budget = _use(f"person:{person.person}", budgets, spent)


def _budget_keys(
    keys: list[str], department: str | None, depts: dict[str, DepartmentBill], rows: list[Row]
) -> list[str]:
    """A department's bill lists its own budget, its people's, and those its calls were charged to."""
    if department is None:
        return keys
    mine = {f"department:{department}"} | {f"person:{p.person}" for d in depts.values() for p in d.people}
    mine |= {str(r["budget"]) for r in rows if r.get("budget")}  # charged to, on record
    return [k for k in keys if k in mine]


def monthly_bill(
    month: str,
    calls: list[Row],
    *,
    department: str | None = None,
    budgets: Mapping[str, Decimal] | None = None,
    people: Mapping[str, Who] | None = None,
    department_names: Mapping[str, str] | None = None,
    top: int = TOP_CALLS,
) -> Bill:
    """The bill of `month` from its call rows (`store.archive.read_month`). `budgets` maps
    "department:<id>"/"person:<id>" to the monthly amount; `people` maps an extension to who
    uses it. Budget use is what live enforcement counts (`policy.budgets.counted_against`),
    also when the bill shows one department."""
    budgets, people = budgets or {}, people or {}
    rows = [r for r in calls if billed(r)]
    spent = budget_spend(rows)
    if department is not None:
        rows = [r for r in rows if _who(r, people).department == department]
    total, by_class, depts = _tally(rows, people, department_names or {})
    _settle(depts, budgets, spent)
    keys = _budget_keys(sorted(set(budgets) | set(spent)), department, depts, rows)
    return Bill(
        month=month,
        department=department,
        total=total,
        by_class=dict(sorted(by_class.items())),
        departments=sorted(depts.values(), key=lambda d: d.department),
        top_calls=_top(rows, people, top),
        budgets=[BudgetUse(k, budgets.get(k), spent.get(k, ZERO)) for k in keys],
    )
