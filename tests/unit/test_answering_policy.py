"""Ring plans in the pure core: chains, assistants, priority lines, office hours (ANS, XFER-1)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from callguard.config import AnsweringSettings, DirectoryConfig, OfficeHours, load_config
from callguard.policy import AnsweringPolicy, CallRequest, Directory, Refuse, Route, decide_call
from callguard.policy.answering import is_open

PROJECT = Path(__file__).resolve().parents[2]
CONFIG = load_config(
    PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
)
DIRECTORY = Directory(CONFIG.directory)
MONDAY_10 = datetime(2026, 11, 23, 10, 0).astimezone()
MONDAY_20 = datetime(2026, 11, 23, 20, 0).astimezone()
SUNDAY_10 = datetime(2026, 11, 22, 10, 0).astimezone()


def plan(
    dialed: str,
    caller: str = "01088886666",
    direction: str = "inbound",
    at: datetime = MONDAY_10,
    directory: Directory = DIRECTORY,
    **settings: object,
) -> Route | Refuse:
    request = CallRequest(
        caller, dialed, direction=direction, at=at, line=caller if direction == "internal" else None
    )
    policy = AnsweringPolicy(directory, AnsweringSettings.model_validate(settings))
    decision = decide_call(directory, request, no_answer_timeout_s=30, answering=policy)
    assert isinstance(decision, Route | Refuse)
    return decision


def hops(decision: Route | Refuse) -> list[tuple[str, tuple[str, ...], float, bool]]:
    assert isinstance(decision, Route)
    return [(h.reason, h.targets, h.limit_s, h.cancel_at_limit) for h in decision.hops]


def test_outside_call_rolls_over_person_hunt_group_operator_then_message() -> None:
    decision = plan("1003")
    assert hops(decision) == [
        ("person", ("1003",), 15.0, True),
        ("hunt_group", ("8000",), 15.0, True),  # 1003 already rang
        ("operator", ("8001",), 15.0, True),
    ]
    assert isinstance(decision, Route) and decision.message_for == "1003" and decision.rule == "ANS-3"
    assert decision.greeting == "greeting_admin" and decision.greeting_on_answer is None


def test_hunt_group_in_order_rings_one_after_the_other() -> None:
    assert [h[:2] for h in hops(plan("2004"))] == [
        ("person", ("2004",)),
        ("hunt_group", ("2003",)),
        ("operator", ("8001",)),
    ]


def test_rings_and_cadence_come_from_line_department_or_default() -> None:
    lines = tuple(
        line.model_copy(update={"rings": 5}) if line.extension == "1003" else line
        for line in CONFIG.directory.lines
    )
    departments = tuple(
        d.model_copy(update={"rings": 2}) if d.id == "admin" else d for d in CONFIG.directory.departments
    )
    directory = Directory(CONFIG.directory.model_copy(update={"lines": lines, "departments": departments}))
    assert [h[2] for h in hops(plan("1003", directory=directory, ring_cadence_s=6.0))] == [
        30.0,
        12.0,
        12.0,
    ]  # the operator is in admin too


def test_manager_calls_ring_the_assistant_first_then_the_manager() -> None:
    decision = plan("2001")
    assert [h[:2] for h in hops(decision)][:2] == [("assistant", ("2002",)), ("person", ("2001",))]
    assert isinstance(decision, Route) and decision.rule == "XFER-1"


@pytest.mark.parametrize(("caller", "direction"), [("13900001111", "inbound"), ("1001", "internal")])
def test_bypass_list_and_other_managers_ring_the_manager_directly(caller: str, direction: str) -> None:
    assert hops(plan("2001", caller=caller, direction=direction))[0][:2] == ("person", ("2001",))


def test_an_employee_calling_a_manager_gets_the_assistant_and_no_rollover() -> None:
    decision = plan("2001", caller="2003", direction="internal")
    assert hops(decision) == [("assistant", ("2002",), 15.0, True), ("person", ("2001",), 15.0, False)]
    assert isinstance(decision, Route) and decision.message_for is None and decision.greeting is None


def test_internal_call_rings_only_the_person_and_rings_on_past_the_limit() -> None:
    decision = plan("1003", caller="2003", direction="internal")
    assert hops(decision) == [("person", ("1003",), 15.0, False)]


def test_line_without_rollover_rings_on_and_takes_no_message() -> None:
    lines = tuple(
        line.model_copy(update={"rollover": False}) if line.extension == "1003" else line
        for line in CONFIG.directory.lines
    )
    directory = Directory(CONFIG.directory.model_copy(update={"lines": lines}))
    decision = plan("1003", directory=directory)
    assert hops(decision) == [("person", ("1003",), 15.0, False)]
    assert isinstance(decision, Route) and decision.message_for is None


def test_named_colleagues_cover_before_the_hunt_group() -> None:
    lines = tuple(
        line.model_copy(update={"covered_by": ("2004",)}) if line.extension == "1003" else line
        for line in CONFIG.directory.lines
    )
    directory = Directory(CONFIG.directory.model_copy(update={"lines": lines}))
    assert [h[0] for h in hops(plan("1003", directory=directory))] == [
        "person",
        "colleague",
        "hunt_group",
        "operator",
    ]


@pytest.mark.parametrize("line", ["9101", "9100"])
def test_ans5_priority_lines_ring_at_once_never_diverted(line: str) -> None:
    for at in (MONDAY_10, SUNDAY_10):
        decision = plan(line, at=at)
        assert isinstance(decision, Route) and decision.rule == "ANS-5"
        assert [(h.targets, h.cancel_at_limit, h.severity) for h in decision.hops] == [
            ((line,), False, "high")
        ]
        assert decision.greeting is None and decision.message_for is None


def test_greeting_per_did_or_department_or_on_answer() -> None:
    assert isinstance(d := plan("2003", greetings={"2003": "greeting"}), Route) and d.greeting == "greeting"
    d = plan("2003", greeting="on_answer")
    assert isinstance(d, Route) and d.greeting is None and d.greeting_on_answer == "greeting_sales"
    d = plan("2003", greeting="off")
    assert isinstance(d, Route) and d.greeting is None and d.greeting_on_answer is None


def test_ans7_after_hours_go_to_the_duty_line_or_the_closed_prompt() -> None:
    for at in (MONDAY_20, SUNDAY_10):
        decision = plan("1003", at=at)
        assert isinstance(decision, Route) and decision.rule == "ANS-7"
        assert [h.targets for h in decision.hops] == [("9101",)]
    closed = plan("1003", at=MONDAY_20, office_hours=OfficeHours(after_hours="closed"))
    assert isinstance(closed, Refuse) and closed.prompt == "closed_office" and closed.rule == "ANS-7"
    inside = plan("1003", caller="2003", direction="internal", at=MONDAY_20)
    assert isinstance(inside, Route) and inside.rule != "ANS-7"  # colleagues still reach each other


def test_department_hours_and_holidays() -> None:
    departments = tuple(
        d.model_copy(
            update={"office_hours": OfficeHours(days=(1, 2, 3, 4, 5, 6, 7), start="00:00", end="24:00")}
        )
        if d.id == "sales"
        else d
        for d in CONFIG.directory.departments
    )
    directory = Directory(CONFIG.directory.model_copy(update={"departments": departments}))
    assert plan("2003", at=SUNDAY_10, directory=directory).rule != "ANS-7"  # sales works Sundays
    holiday = OfficeHours(holidays=("2026-11-23",))
    assert not is_open(holiday, MONDAY_10)
    assert is_open(OfficeHours(), MONDAY_10) and not is_open(OfficeHours(), MONDAY_20)
    assert not is_open(OfficeHours(), SUNDAY_10)


def test_plain_route_without_answering_policy_is_unchanged() -> None:
    decision = decide_call(DIRECTORY, CallRequest("2003", "1003"), no_answer_timeout_s=30)
    assert decision == Route(target="1003", timeout_s=30, reason="extension")


def test_every_extension_from_every_kind_of_caller_gets_a_plan() -> None:
    empty = Directory(DirectoryConfig(company="x"))
    for ext in DIRECTORY.extensions():
        for direction, caller in (("inbound", "13800138000"), ("internal", "1003")):
            for at in (MONDAY_10, MONDAY_20):
                decision = plan(ext, caller=caller, direction=direction, at=at)
                if isinstance(decision, Route) and decision.hops:
                    assert all(h.targets and caller not in h.targets for h in decision.hops)
                    rung = [t for h in decision.hops for t in h.targets]
                    assert len(rung) == len(set(rung))  # nobody rings twice
    assert isinstance(plan("1003", directory=empty), Refuse)  # unknown there


@pytest.mark.parametrize(
    ("dialed", "direction", "expected"),
    [
        # (reason, rule, offline skip) per hop: ANS-3 skips offline phones only where a later
        # hop can take the call; an assistant's hop rings under XFER-1.
        (
            "1003",
            "inbound",
            [("person", "ANS-3", 4.0), ("hunt_group", "ANS-3", 4.0), ("operator", "ANS-3", 4.0)],
        ),
        ("2001", "internal", [("assistant", "XFER-1", 4.0), ("person", "ANS-3", 4.0)]),
        ("1003", "internal", [("person", "ANS-3", None)]),
        ("9101", "inbound", [("duty", "ANS-5", None)]),
        ("9100", "internal", [("alarm", "ANS-5", None)]),
    ],
)
def test_each_hop_tells_the_session_its_rule_and_offline_skip(
    dialed: str, direction: str, expected: list[tuple[str, str, float | None]]
) -> None:
    caller = "1002" if direction == "internal" else "01088886666"
    decision = plan(dialed, caller=caller, direction=direction)
    assert isinstance(decision, Route)
    assert [(h.reason, h.rule, h.offline_skip_s) for h in decision.hops] == expected
    assert decision.rule == ("ANS-5" if dialed.startswith("91") else expected[0][1])


@pytest.mark.parametrize("apology", [True, False])
def test_each_hop_carries_the_ans2_apology_setting(apology: bool) -> None:
    for dialed in ("1003", "9101", "2001"):
        decision = plan(dialed, apology=apology)
        assert isinstance(decision, Route)
        assert {h.apology for h in decision.hops} == {apology}
    after_hours = plan("1003", at=MONDAY_20, office_hours={"after_hours": "duty"}, apology=apology)
    assert isinstance(after_hours, Route)
    assert [(h.reason, h.rule, h.apology) for h in after_hours.hops] == [("after_hours", "ANS-7", apology)]


def test_the_recorded_plan_keeps_its_shape() -> None:
    # Records keep the decision verbatim: the session's hints are not part of it.
    decision = plan("2001", caller="1003", direction="internal")
    assert decision.as_dict()["hops"] == [
        {"targets": ["2002"], "rings": 3, "limit_s": 15.0, "cancel_at_limit": True, "reason": "assistant"},
        {"targets": ["2001"], "rings": 3, "limit_s": 15.0, "cancel_at_limit": False, "reason": "person"},
    ]
