"""LOG-5's ladder as pure rules: steps from a person's history in the window, serious ones
starting at a fine, overturned ones not counting, fines, and appeal deadlines in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callguard.config import load_config
from callguard.config._models import LadderStep, OfficeHours, ViolationSettings
from callguard.policy.ladder import (
    APPEALED,
    OPEN,
    OVERTURNED,
    UPHELD,
    AppealError,
    Calendar,
    Earlier,
    Ladder,
    add_working_days,
    check_appeal,
    check_decision,
)
from tests.unit.test_config import ENV, PROJECT, problems, write

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
MON_FRI = Calendar(frozenset({1, 2, 3, 4, 5}))
ZERO = Decimal(0)


def earlier(days_before: float, step: str | None = "verbal_warning", status: str = OPEN) -> Earlier:
    return Earlier(T0 - timedelta(days=days_before), step, status)


def minor(ladder: Ladder, history: list[Earlier], rule: str = "ANS-1") -> LadderStep | None:
    return ladder.assign(rule, "minor", "chen.jie", T0, ZERO, history).step


def test_minor_violations_walk_the_ladder_and_the_last_step_repeats() -> None:
    ladder, history = Ladder(), []
    steps = []
    for _ in range(6):
        steps.append(minor(ladder, history))
        history.append(Earlier(T0, steps[-1], OPEN))
    assert steps == ["verbal_warning", "written_warning", "fine", "referral", "referral", "referral"]


def test_only_the_window_counts() -> None:
    ladder = Ladder(ViolationSettings(window_days=90))
    assert minor(ladder, [earlier(90)]) == "written_warning"  # the window's first day counts
    assert minor(ladder, [earlier(90.01)]) == "verbal_warning"
    assert minor(ladder, [earlier(-1)]) == "verbal_warning"  # stored later (a replay): not earlier


def test_overturned_and_unstepped_violations_do_not_count() -> None:
    ladder = Ladder()
    history = [earlier(3), earlier(2, "written_warning", OVERTURNED), earlier(1, None)]
    assert minor(ladder, history) == "written_warning"
    history = [earlier(3, status=UPHELD), earlier(2, "written_warning", APPEALED)]
    assert minor(ladder, history) == "fine"  # an appeal not yet decided still counts


def test_serious_violations_start_at_a_fine() -> None:
    ladder = Ladder()
    assert ladder.assign("OUT-1", "serious", "zhou.qiang", T0, Decimal(150), []).step == "fine"
    assert ladder.assign("OUT-1", "serious", "zhou.qiang", T0, Decimal(150), [earlier(1)]).step == "referral"
    # By rule as well as by severity, as configured.
    custom = Ladder(ViolationSettings(serious_rules=("ANS-5",), serious_severities=()))
    assert custom.assign("ANS-5", "high", "he.gang", T0, ZERO, []).step == "fine"
    assert custom.assign("OUT-1", "serious", "he.gang", T0, ZERO, []).step == "verbal_warning"


def test_no_more_violations_decide_a_step_than_the_ladder_has_steps_after_the_first() -> None:
    ladder = Ladder(ViolationSettings(serious_ladder=(LadderStep.fine, LadderStep.referral)))
    assert ladder.deciding("ANS-1", "minor") == 3
    assert ladder.deciding("OUT-1", "serious") == 1
    for counted in range(8):  # as many as decide it give the same step as any more
        assert ladder.step("ANS-1", "minor", counted) == ladder.step("ANS-1", "minor", min(counted, 3))


def test_alerts_and_violations_without_a_person_get_no_step() -> None:
    ladder = Ladder()
    alert = ladder.assign("SEC-3", "alert", "wu.fang", T0, ZERO, [])
    assert (alert.step, alert.appeal_by, alert.fine) == (None, None, ZERO)
    unknown = ladder.assign("OUT-2", "minor", None, T0, Decimal(50), [])
    assert (unknown.step, unknown.fine) == (None, Decimal(50))


def test_rule_fines_stand_and_minor_rules_are_fined_only_at_the_fine_steps() -> None:
    ladder = Ladder(
        ViolationSettings(fines={LadderStep.fine: Decimal("80.50"), LadderStep.referral: Decimal(200)})
    )
    fines = [ladder.assign("ANS-1", "minor", "p", T0, ZERO, [earlier(1)] * n).fine for n in range(4)]
    assert fines == [ZERO, ZERO, Decimal("80.50"), Decimal(200)]
    # OUT-2's class fine is the policy's, per attempt: kept at a verbal warning too.
    assert ladder.assign("OUT-2", "minor", "p", T0, Decimal(500), []).fine == Decimal(500)
    assert ladder.assign("OUT-2", "minor", "p", T0, Decimal(500), [earlier(1)] * 2).fine == Decimal(500)


def test_appeal_deadline_counts_working_days_across_weekends_and_holidays() -> None:
    friday = date(2026, 9, 25)
    assert add_working_days(friday, 5, MON_FRI) == date(2026, 10, 2)
    golden_week = Calendar(
        frozenset({1, 2, 3, 4, 5}), frozenset(f"2026-10-0{d}" for d in range(1, 8))
    )  # 国庆节
    assert add_working_days(friday, 5, golden_week) == date(2026, 10, 9)  # 28, 29, 30 Sep, 8, 9 Oct
    assert add_working_days(date(2026, 9, 26), 1, MON_FRI) == date(2026, 9, 28)  # Saturday -> Monday
    # A calendar with no working days at all does not hang: calendar days instead.
    assert add_working_days(friday, 5, Calendar(frozenset())) == date(2026, 9, 30)


def test_the_deadline_uses_the_persons_department_calendar() -> None:
    hours = {"security": Calendar.of(OfficeHours(days=(1, 2, 3, 4, 5, 6, 7)))}
    ladder = Ladder(calendar_of=lambda person: hours.get("security" if person == "he.gang" else "", MON_FRI))
    friday = datetime(2026, 9, 25, 9, 0, tzinfo=UTC)
    assert ladder.assign("ANS-1", "minor", "he.gang", friday, ZERO, []).appeal_by == date(2026, 9, 30)
    assert ladder.assign("ANS-1", "minor", "chen.jie", friday, ZERO, []).appeal_by == date(2026, 10, 2)


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=1, max_value=30),
    st.sets(st.integers(min_value=1, max_value=7), min_size=1),
    st.sets(st.integers(min_value=0, max_value=60), max_size=10),
)
def test_working_days_property(start: date, count: int, days: set[int], off: set[int]) -> None:
    holidays = frozenset((start + timedelta(days=d)).isoformat() for d in off)
    calendar = Calendar(frozenset(days), holidays)
    end = add_working_days(start, count, calendar)
    between = [start + timedelta(days=d) for d in range(1, (end - start).days + 1)]
    assert end > start and calendar.is_working(end)
    assert sum(calendar.is_working(d) for d in between) == count


@given(st.lists(st.tuples(st.integers(0, 200), st.sampled_from([OPEN, APPEALED, UPHELD, OVERTURNED]))))
def test_step_is_the_count_of_counting_violations_property(history: list[tuple[int, str]]) -> None:
    ladder = Ladder(ViolationSettings(window_days=90))
    past = [earlier(days, "verbal_warning", status) for days, status in history]
    counted = sum(1 for days, status in history if days <= 90 and status != OVERTURNED)
    assert minor(ladder, past) == list(LadderStep)[min(counted, 3)]
    # Overturning any one of them never raises the step.
    for i in range(len(past)):
        again = [*past[:i], Earlier(past[i].at, past[i].step, OVERTURNED), *past[i + 1 :]]
        assert list(LadderStep).index(minor(ladder, again)) <= list(LadderStep).index(minor(ladder, past))  # type: ignore[arg-type]


def test_appeals_and_decisions_are_refused_with_one_clear_reason() -> None:
    deadline = date(2026, 3, 9)
    check_appeal(OPEN, "verbal_warning", deadline, deadline)  # the last day is still in time
    with pytest.raises(AppealError, match="deadline 2026-03-09 has passed"):
        check_appeal(OPEN, "verbal_warning", deadline, deadline + timedelta(days=1))
    with pytest.raises(AppealError, match="appealed, not open"):
        check_appeal(APPEALED, "verbal_warning", deadline, deadline)
    with pytest.raises(AppealError, match="no ladder step"):
        check_appeal(OPEN, None, None, deadline)
    check_decision(OPEN)
    check_decision(APPEALED)
    with pytest.raises(AppealError, match="already overturned"):
        check_decision(OVERTURNED)


def test_bad_ladder_config_is_refused() -> None:
    with pytest.raises(ValueError, match="rule ID"):
        ViolationSettings(serious_rules=("premium",))
    with pytest.raises(ValueError):
        ViolationSettings(ladder=())
    with pytest.raises(ValueError):
        ViolationSettings.model_validate({"ladder": ["verbal_warning", "sacking"]})


def test_bad_violations_section_is_one_line_per_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[violations]\nserious_rules = ["premium"]\nwindow_days = 0\nfines = { sacking = 5 }\n'
    )
    found = problems(path)
    assert any(p.startswith(f"{path}: violations.serious_rules: ") and "rule ID" in p for p in found)
    assert any(p.startswith(f"{path}: violations.window_days: ") for p in found)
    assert any(p.startswith(f"{path}: violations.fines.sacking") for p in found)
    assert all("\n" not in p for p in found)


def test_the_shipped_config_configures_the_default_ladder() -> None:
    config = load_config(PROJECT / "config" / "callguard.toml", ENV)
    assert config.violations == ViolationSettings()
    ladder = Ladder.from_config(config)
    # Its office hours' holidays are not working days for the appeal deadline.
    assert ladder.appeal_by("chen.jie", date(2026, 12, 31)) == date(2027, 1, 8)
