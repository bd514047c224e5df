"""The pure decision core: directory lookups and where a call goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from callguard.config import load_config
from callguard.policy import CallRequest, Directory, Refuse, Route, decide_call

PROJECT = Path(__file__).resolve().parents[2]
DIRECTORY = Directory(
    load_config(
        PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
    ).directory
)


def decide(caller: str, dialed: str, **facts: Any) -> Route | Refuse:
    return decide_call(DIRECTORY, CallRequest(caller, dialed, **facts), no_answer_timeout_s=30)


def test_directory_resolves_people_and_shared_lines() -> None:
    boss = DIRECTORY.party("1001")
    assert (boss.name, boss.department, boss.department_name, boss.person, boss.internal) == (
        "王丽 Wang Li",
        "admin",
        "行政部 Administration",
        "wang.li",
        True,
    )
    desk = DIRECTORY.party("8000")
    assert (desk.name, desk.line_kind, desk.person) == ("前台 Front desk", "front_desk", None)
    outside = DIRECTORY.party("13800138000")
    assert (outside.name, outside.internal) == (None, False)


def test_known_extension_is_routed_with_the_timeout() -> None:
    assert decide("1001", "2001") == Route(target="2001", timeout_s=30, reason="extension")


def test_unknown_extension_is_refused_with_unallocated() -> None:
    assert decide("1001", "5555") == Refuse(reason="unknown_extension", cause=1)


def test_dialling_yourself_is_busy() -> None:
    assert decide("1001", "1001", line="1001") == Refuse(reason="dialled_self", cause=17)


def test_an_outside_caller_id_equal_to_the_extension_is_not_dialling_itself() -> None:
    # The caller ID is only a claim: an outside caller sending "1001" still reaches 1001.
    decision = decide("1001", "1001", direction="inbound")
    assert isinstance(decision, Route) and decision.target == "1001"


def test_malformed_is_refused_even_if_it_looks_like_an_extension() -> None:
    assert decide("1001", "1002", malformed=True) == Refuse(reason="malformed_number", cause=28)


def test_overload_refuses_with_congestion_before_anything_else() -> None:
    assert decide("1001", "1002", overloaded=True, malformed=True) == Refuse(reason="overloaded", cause=34)


def test_every_decision_is_loggable_data() -> None:
    for decision in (decide("1001", "2001"), decide("1001", "x")):
        data = decision.as_dict()
        assert data["action"] in ("route", "refuse") and "reason" in data


@given(st.text(max_size=300), st.text(max_size=40))
def test_any_dialled_string_is_decided_without_error(dialed: str, caller: str) -> None:
    decision = decide(caller, dialed)
    if dialed in DIRECTORY.extensions() and dialed != caller:
        assert decision == Route(target=dialed, timeout_s=30, reason="extension")
    else:
        assert isinstance(decision, Refuse)
