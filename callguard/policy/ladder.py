"""LOG-5's escalation ladder and appeal deadlines: pure rules, no I/O, time passed in.

A person's violation gets step n of its ladder, n being how many of that person's earlier
violations still count within the window (the last step repeats). A violation counts while it
has a step and is not overturned. Serious ones (by rule or severity) climb the serious ladder,
which starts at a fine. Security alerts (and violations without a person) get no step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from callguard.config._models import (
    Config,
    LadderStep,
    OfficeHours,
    ViolationSettings,
)

OPEN, APPEALED, UPHELD, OVERTURNED = "open", "appealed", "upheld", "overturned"
STATUSES = (OPEN, APPEALED, UPHELD, OVERTURNED)
COUNTING = (OPEN, APPEALED, UPHELD)  # an overturned violation no longer counts

STEP_LABELS = {
    LadderStep.verbal_warning: "口头警告 verbal warning",
    LadderStep.written_warning: "书面警告 written warning",
    LadderStep.fine: "罚款 fine",
    LadderStep.referral: "移交处理 referral",
}


class AppealError(Exception):
    """An appeal or a decision the ladder refuses; the message is one line for the CLI."""


@dataclass(frozen=True)
class Calendar:
    """Working days: ISO weekdays worked, and holidays ("YYYY-MM-DD") off."""

    days: frozenset[int]
    holidays: frozenset[str] = frozenset()

    @classmethod
    def of(cls, hours: OfficeHours) -> Calendar:
        return cls(frozenset(hours.days), frozenset(hours.holidays))

    def is_working(self, day: date) -> bool:
        return day.isoweekday() in self.days and day.isoformat() not in self.holidays


def add_working_days(start: date, count: int, calendar: Calendar) -> date:
    """The `count`-th working day after `start` (`start` itself never counts). A calendar
    without any working day in a year counts calendar days instead of looping for ever."""
    day, left = start, count
    for _ in range(count + 366):
        if left == 0:
            return day
        day += timedelta(days=1)
        left -= calendar.is_working(day)
    return start + timedelta(days=count)


@dataclass(frozen=True)
class Earlier:
    """One of the person's earlier violations, as the ladder sees it."""

    at: datetime
    step: str | None
    status: str


@dataclass(frozen=True)
class Assigned:
    """What the ladder gives a new violation: its step (None: no step), the fine in 元 and
    the last day (local) an appeal is accepted."""

    step: LadderStep | None
    fine: Decimal
    appeal_by: date | None


class Ladder:
    """The ladder of one configuration; `calendar_of(person)` gives the working days that
    count towards a person's appeal deadline."""

    def __init__(
        self,
        settings: ViolationSettings | None = None,
        calendar_of: Callable[[str | None], Calendar] | None = None,
    ) -> None:
        self.settings = settings or ViolationSettings()
        default = Calendar.of(OfficeHours())
        self.calendar_of = calendar_of or (lambda _person: default)

    @classmethod
    def from_config(cls, config: Config) -> Ladder:
        """Working days from the person's department's office hours, else [answering.office_hours]."""
        default = Calendar.of(config.answering.office_hours)
        by_department = {
            d.id: Calendar.of(d.office_hours) for d in config.directory.departments if d.office_hours
        }
        department_of = {p.id: p.department for p in config.directory.people}

        def calendar_of(person: str | None) -> Calendar:
            return by_department.get(department_of.get(person or "", ""), default)

        return cls(config.violations, calendar_of)

    def window_start(self, at: datetime) -> datetime:
        return at - timedelta(days=self.settings.window_days)

    def is_laddered(self, person: str | None, severity: str) -> bool:
        return bool(person) and severity not in self.settings.unladdered_severities

    def is_serious(self, rule: str, severity: str) -> bool:
        s = self.settings
        return rule in s.serious_rules or severity in s.serious_severities

    def counting(self, at: datetime, earlier: Iterable[Earlier]) -> int:
        """How many of the person's earlier violations (those stored before this one) count
        towards the step of one at `at`: a stored one timed after `at` (a late journal replay)
        does not."""
        since = self.window_start(at)
        return sum(1 for e in earlier if e.step is not None and e.status in COUNTING and since <= e.at <= at)

    def _steps(self, rule: str, severity: str) -> tuple[LadderStep, ...]:
        return self.settings.serious_ladder if self.is_serious(rule, severity) else self.settings.ladder

    def deciding(self, rule: str, severity: str) -> int:
        """How many of the person's latest counting violations decide a new one's step: the last
        step repeats, so more than the ladder's length less one change nothing."""
        return len(self._steps(rule, severity)) - 1

    def step(self, rule: str, severity: str, counted: int) -> LadderStep:
        ladder = self._steps(rule, severity)
        return ladder[min(counted, len(ladder) - 1)]

    def fine(self, step: LadderStep | None, rule_fine: Decimal) -> Decimal:
        """A rule's own fine (OUT-1, OUT-2: the policy sets it per attempt) stands at every step;
        a rule without one is fined only at the steps `[violations] fines` names."""
        if rule_fine > 0 or step is None:
            return rule_fine
        return self.settings.fines.get(step, Decimal(0))

    def appeal_by(self, person: str | None, local_day: date) -> date:
        return add_working_days(local_day, self.settings.appeal_working_days, self.calendar_of(person))

    def assign(
        self,
        rule: str,
        severity: str,
        person: str | None,
        at: datetime,
        rule_fine: Decimal,
        earlier: Iterable[Earlier],
    ) -> Assigned:
        """The step, fine and appeal deadline of a new violation at `at` (aware; its local day
        is taken in `at`'s own zone) given the person's earlier violations."""
        if not self.is_laddered(person, severity):
            return Assigned(None, rule_fine, None)
        step = self.step(rule, severity, self.counting(at, earlier))
        return Assigned(step, self.fine(step, rule_fine), self.appeal_by(person, at.date()))


def check_appeal(status: str, step: str | None, appeal_by: date | None, today: date) -> None:
    """Raise AppealError unless a violation may be appealed on `today` (local)."""
    if step is None or appeal_by is None:
        raise AppealError("it has no ladder step (a security alert, or no person): nothing to appeal")
    if status != OPEN:
        raise AppealError(f"it is {status}, not open: a violation is appealed once")
    if today > appeal_by:
        raise AppealError(f"the appeal deadline {appeal_by.isoformat()} has passed")


def check_decision(status: str) -> None:
    """An administrator decides an open or appealed violation once."""
    if status not in (OPEN, APPEALED):
        raise AppealError(f"it is already {status}")


def step_label(step: str | None, labels: Mapping[LadderStep, str] = STEP_LABELS) -> str:
    return labels.get(LadderStep(step), step) if step else "-"
