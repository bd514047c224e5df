"""Answering compliance for performance reviews (LOG-6, 接听规范执行情况纳入个人绩效考核): figures per
person and per department for a period, from calls, their legs and violations. The README's
"Bills, reports and the archive" section defines every figure; this module is that definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from callguard.reports.bills import NO_DEPARTMENT, UNCLASSIFIED, BudgetUse, Usage, Who, billed, budget_spend
from callguard.reports.money import ZERO, money

Row = dict[str, Any]
RING_LIMIT_RULE = "ANS-1"
NO_STEP = "-"  # a violation without a ladder step (before LOG-5's ladder, or not escalated)


@dataclass
class Answering:
    """Offers and what became of them. One offer = one phone that rang for a call."""

    offered: int = 0
    answered: int = 0
    answered_in_limit: int = 0
    answered_elsewhere: int = 0  # a colleague's phone answered first, before this one's limit
    unanswered: int = 0  # rang to its limit, or was declined
    abandoned: int = 0  # the caller hung up before this phone's limit
    rings_total: int = 0  # over answers with a known ring count
    rings_counted: int = 0
    rings: dict[int, int] = field(default_factory=dict)  # rings at answer -> answers (the distribution)

    @property
    def in_limit_rate(self) -> Decimal | None:
        """answered within the limit / (answered + unanswered): offers the person could take."""
        chances = self.answered + self.unanswered
        if not chances:
            return None
        return (Decimal(self.answered_in_limit) / chances).quantize(Decimal("0.001"), ROUND_HALF_UP)

    @property
    def average_rings(self) -> Decimal | None:
        if not self.rings_counted:
            return None
        return (Decimal(self.rings_total) / self.rings_counted).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def missed(self) -> int:
        return self.unanswered + self.abandoned


@dataclass
class Figures:
    key: str  # person id (or extension) / department id
    name: str
    department: str
    answering: Answering = field(default_factory=Answering)
    violations: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> step -> count
    fines: Decimal = ZERO
    outside_calls: int = 0  # outside calls placed, any outcome
    outside: Usage = field(default_factory=Usage)  # of which answered: minutes and cost
    budget: BudgetUse | None = None

    def count_violation(self, violation: Row) -> None:
        steps = self.violations.setdefault(str(violation.get("rule")), {})
        step = str(violation.get("step") or NO_STEP)
        steps[step] = steps.get(step, 0) + 1
        self.fines += money(violation.get("fine_yuan")) or ZERO


@dataclass
class Compliance:
    period: str
    department: str | None
    people: list[Figures]
    departments: list[Figures]


def _limit_missed(call: Row, number: str) -> bool:
    """callguard recorded ANS-1 for this phone on this call: it rang past its limit."""
    return any(
        v.get("rule") == RING_LIMIT_RULE and v.get("extension") == number and v.get("status") != "overturned"
        for v in call.get("violations", [])
    )


def _offer(call: Row, leg: Row, figures: Answering) -> None:
    number = str(leg.get("number"))
    late = _limit_missed(call, number)
    figures.offered += 1
    if leg.get("answered_at") is not None:
        figures.answered += 1
        figures.answered_in_limit += 0 if late else 1
        if leg.get("rings_at_answer") is not None:
            rings = int(leg["rings_at_answer"])
            figures.rings_total += rings
            figures.rings_counted += 1
            figures.rings[rings] = figures.rings.get(rings, 0) + 1
    elif late or call.get("disposition") == "declined":
        figures.unanswered += 1
    elif call.get("answered_at") is not None:
        figures.answered_elsewhere += 1
    else:
        figures.abandoned += 1


def _offered_legs(call: Row) -> list[Row]:
    """The company phones that rang for the call. An outside call's callee is the carrier's
    number, nobody whose answering LOG-6 measures (a transfer from it rings a company phone)."""
    callees = [leg for leg in call.get("legs", []) if leg.get("role") == "callee"]
    if call.get("direction") == "outbound":
        callees = callees[1:]  # the first leg went through the trunk
    return [leg for leg in callees if leg.get("ringing_at")]


def _call_offer(call: Row, figures: Answering) -> None:
    """The call as offered to the dialled department: answered by whoever answered; within
    the limit when the phone that answered answered within its own limit."""
    answering = [leg for leg in _offered_legs(call) if leg.get("answered_at") is not None]
    if answering:
        _offer(call, answering[0], figures)
        return
    figures.offered += 1
    if call.get("disposition") == "abandoned":
        figures.abandoned += 1
    else:
        figures.unanswered += 1


def _directory(calls: list[Row], people: Mapping[str, Who]) -> dict[str, Who]:
    """Who each extension is: the directory where given, else the names the records carry."""
    known: dict[str, Who] = {}
    for call in calls:
        # An outside caller is never taken for an employee, whatever caller ID it sent.
        sides = ("callee",) if call.get("direction") == "inbound" else ("caller", "callee")
        for side in sides:
            number, department = call.get(f"{side}_number"), call.get(f"{side}_department")
            if number and department:
                name = str(call.get(f"{side}_name") or number)
                known.setdefault(str(number), Who(str(number), name, str(department)))
    return {**known, **people}


def _dialled_department(call: Row, who: Mapping[str, Who]) -> str | None:
    for number in [call.get("dialed"), *(leg.get("number") for leg in _offered_legs(call))]:
        if number is not None and str(number) in who:
            return who[str(number)].department
    return None


@dataclass
class _Tally:
    """The figures of every person and department a period's calls touch, made on first use."""

    who: Mapping[str, Who]
    names: Mapping[str, str]
    persons: dict[str, Figures] = field(default_factory=dict)
    depts: dict[str, Figures] = field(default_factory=dict)

    def person(self, number: str) -> Figures:
        w = self.who.get(number) or Who(number, number, NO_DEPARTMENT)
        return self.persons.setdefault(w.person, Figures(w.person, w.name, w.department))

    def dept(self, key: str) -> Figures:
        return self.depts.setdefault(key, Figures(key, self.names.get(key, key), key))


def _count_answering(tally: _Tally, call: Row) -> None:
    for leg in _offered_legs(call):
        _offer(call, leg, tally.person(str(leg["number"])).answering)
    if call.get("direction") in ("internal", "inbound"):
        target = _dialled_department(call, tally.who)
        if target is not None and _offered_legs(call):
            _call_offer(call, tally.dept(target).answering)


def _count_violations(tally: _Tally, call: Row) -> None:
    for violation in call.get("violations", []):
        if violation.get("status") == "overturned":
            continue  # LOG-5: an overturned violation no longer counts
        p = tally.person(str(violation.get("extension")))
        p.count_violation(violation)
        tally.dept(p.department).count_violation(violation)


def _count_outside(tally: _Tally, call: Row) -> None:
    if call.get("direction") != "outbound":
        return
    caller = tally.person(str(call.get("caller_number")))
    for figures in (caller, tally.dept(str(call.get("caller_department") or caller.department))):
        figures.outside_calls += 1
        if billed(call):
            figures.outside.add(call)


def compliance(
    period: str,
    calls: list[Row],
    *,
    department: str | None = None,
    budgets: Mapping[str, Decimal] | None = None,
    people: Mapping[str, Who] | None = None,
    department_names: Mapping[str, str] | None = None,
) -> Compliance:
    """LOG-6's figures for the calls of one period (`store.archive.read_month`)."""
    budgets = budgets or {}
    tally = _Tally(_directory(calls, people or {}), department_names or {})
    for call in calls:
        _count_answering(tally, call)
        _count_violations(tally, call)
        _count_outside(tally, call)
    spent = budget_spend([call for call in calls if billed(call)])
    for p in tally.persons.values():
        p.budget = _budget(f"person:{p.key}", budgets, spent)
    for d in tally.depts.values():
        d.budget = _budget(f"department:{d.key}", budgets, spent)
    people_out = sorted(tally.persons.values(), key=lambda f: (f.department, f.key))
    depts_out = sorted(tally.depts.values(), key=lambda f: f.key)
    if department is not None:
        people_out = [f for f in people_out if f.department == department]
        depts_out = [f for f in depts_out if f.key == department]
    return Compliance(period, department, people_out, depts_out)


def _budget(key: str, budgets: Mapping[str, Decimal], spent: Mapping[str, Decimal]) -> BudgetUse | None:
    if key not in budgets:
        return None
    return BudgetUse(key, budgets[key], spent.get(key, ZERO))


__all__ = ["UNCLASSIFIED", "Answering", "Compliance", "Figures", "compliance"]
