"""SEC-1 and ANS-5 in the pure core: blocklist matching, repeat callers, lines nothing blocks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from callguard.config import InboundSettings, load_config
from callguard.policy import (
    BlockEntry,
    Blocklist,
    CallRequest,
    Directory,
    InboundPolicy,
    Refuse,
    RepeatCallers,
    Route,
    decide_call,
)

PROJECT = Path(__file__).resolve().parents[2]
DIRECTORY = Directory(
    load_config(
        PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
    ).directory
)
NOW = datetime(2026, 11, 23, 10, 0).astimezone()


def policy(*entries: BlockEntry, **settings: object) -> InboundPolicy:
    inbound = InboundPolicy(DIRECTORY, InboundSettings.model_validate(settings))
    inbound.blocklist = Blocklist(entries)
    return inbound


def decide(inbound: InboundPolicy, caller: str, dialed: str = "1003", recent: int = 1) -> object:
    request = CallRequest(caller, dialed, direction="inbound", at=NOW, recent_calls=recent)
    return decide_call(DIRECTORY, request, no_answer_timeout_s=30, inbound=inbound)


def test_blocked_number_and_prefix_are_refused_politely() -> None:
    inbound = policy(
        BlockEntry("13800138000", False, "harassment", "ma.lin"),
        BlockEntry("0755", True, "spam wave", "ma.lin"),
    )
    for caller in ("13800138000", "075512345678"):
        decision = decide(inbound, caller)
        assert isinstance(decision, Refuse)
        assert (decision.rule, decision.prompt, decision.cause) == ("SEC-1", "blocked_caller", 21)
    assert isinstance(decide(inbound, "13800138001"), Route)
    assert isinstance(decide(inbound, "1380013800"), Route)  # exact entries are exact


def test_expired_automatic_block_no_longer_applies() -> None:
    entry = BlockEntry("13900000000", False, "auto", "callguard", until=NOW + timedelta(minutes=5))
    assert isinstance(decide(policy(entry), "13900000000"), Refuse)
    later = CallRequest("13900000000", "1003", direction="inbound", at=NOW + timedelta(minutes=6))
    assert isinstance(decide_call(DIRECTORY, later, no_answer_timeout_s=30, inbound=policy(entry)), Route)


def test_ans5_duty_and_alarm_lines_are_never_blocked() -> None:
    inbound = policy(BlockEntry("13800138000", False, "harassment", "ma.lin"))
    for line in ("9101", "9100"):
        assert isinstance(decide(inbound, "13800138000", line, recent=99), Route)


def test_repeat_caller_is_blocked_for_a_while() -> None:
    inbound = policy(auto_block_calls=3, auto_block_window_min=10, auto_block_min=30)
    assert isinstance(decide(inbound, "13700000000", recent=3), Route)
    decision = decide(inbound, "13700000000", recent=4)
    assert isinstance(decision, Refuse) and decision.new_block is not None
    assert decision.new_block.until == NOW + timedelta(minutes=30)
    assert decision.new_block.pattern == "13700000000" and not decision.new_block.prefix
    assert decision.as_dict()["blocked_until"] == (NOW + timedelta(minutes=30)).isoformat()


def test_internal_calls_are_not_filtered() -> None:
    inbound = policy(BlockEntry("1001", False, "x", "y"))
    decision = decide_call(
        DIRECTORY, CallRequest("1001", "1003", at=NOW), no_answer_timeout_s=30, inbound=inbound
    )
    assert isinstance(decision, Route)


def test_repeat_callers_window_rolls() -> None:
    repeat = RepeatCallers(window_s=600)
    assert [repeat.note("a", t) for t in (0, 100, 200)] == [1, 2, 3]
    assert repeat.note("b", 250) == 1
    assert repeat.note("a", 650) == 3  # the call at 0 left the window; 100, 200 and this one remain


@given(st.text(max_size=80), st.text(max_size=20))
def test_any_caller_id_is_data(caller: str, pattern: str) -> None:
    inbound = policy(BlockEntry(pattern, True, "r", "b"), BlockEntry(pattern, False, "r", "b"))
    decision = decide(inbound, caller)
    blocked = bool(caller) and caller.startswith(pattern)
    assert isinstance(decision, Refuse if blocked else Route)
