"""SEC-1 and ANS-5 in the pure core: blocklist matching, repeat callers, lines nothing blocks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from callguard.config import InboundSettings, load_config
from callguard.policy import (
    BlockEntry,
    Blocklist,
    CallRequest,
    Directory,
    InboundPolicy,
    Numbering,
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
    """Any caller ID and any stored pattern are data: a decision, never an error. A caller with
    a number is blocked by an entry made from its own caller ID; one without is never blocked
    (anonymous = "allow")."""
    inbound = policy(BlockEntry(pattern, True, "r", "b"), BlockEntry(pattern, False, "r", "b"))
    decision = decide(inbound, caller)
    has_number = NUMBERING.canonical(caller) is not None
    assert isinstance(
        decision, Refuse if has_number and (pattern == "" or pattern == caller) else (Refuse, Route)
    )
    if not has_number:
        assert isinstance(decision, Route)
    assert isinstance(
        decide(policy(BlockEntry(caller, False, "r", "b")), caller), Refuse if has_number else Route
    )


# --- SEC-1: one normal form for callers' numbers -------------------------------------------------

NUMBERING = Numbering()


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        # a mobile, every way trunks and people write it
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("0086 138.0013.8000", "13800138000"),
        ("8613800138000", "13800138000"),  # bare 86: no domestic number is 13 digits long
        ("138-0013-8000", "13800138000"),
        ("(138) 0013 8000", "13800138000"),
        ("+86 138\u20130013\u20138000", "13800138000"),  # en dashes
        # a Beijing landline (area code 10): national form, with its 0
        ("01012345678", "01012345678"),
        ("010-12345678", "01012345678"),
        ("(010) 1234 5678", "01012345678"),
        ("010.1234.5678", "01012345678"),
        ("+86 10 1234 5678", "01012345678"),
        ("+86 (0)10 1234 5678", "01012345678"),
        ("00861012345678", "01012345678"),
        ("861012345678", "01012345678"),
        # three-digit area codes
        ("+86 755 1234 5678", "075512345678"),
        ("0755-12345678", "075512345678"),
        ("+86 311 1234567", "03111234567"),
        # local and service numbers stay as sent; foreign ones take the international prefix
        ("62345678", "62345678"),
        ("95588", "95588"),
        ("86123456", "86123456"),  # a local number starting 86 is not a country code
        ("+852 2123 4567", "0085221234567"),
        ("00852 2123 4567", "0085221234567"),
        ("+1 (212) 555-0100", "0012125550100"),
    ],
)
def test_caller_numbers_are_normalised(raw: str, normal: str) -> None:
    assert NUMBERING.canonical(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "anonymous",
        "Anonymous",
        "unknown",
        "restricted",
        "unavailable",
        "private",
        "+",
        "+86",
        "0086",
        "--",
        "138abc",
        "sip:13800138000@x",
        "１３８００１３８０００",
        "*31#13800138000",
    ],
)
def test_callers_without_a_number_have_no_normal_form(raw: str) -> None:
    assert NUMBERING.canonical(raw) is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("0755", "0755"),
        ("+86 755", "0755"),
        ("0086755", "0755"),
        ("+86 10", "010"),
        ("+86 138", "138"),
        ("+86 (0)21", "021"),
        ("+852", "00852"),
        ("138", "138"),
        ("+86 7", None),  # part of an area code: a local number could start 7 as well
        ("+86 1", None),  # a mobile or Beijing?
        ("x", None),
    ],
)
def test_blocklist_prefixes_are_normalised(raw: str, normal: str | None) -> None:
    assert NUMBERING.canonical_prefix(raw) == normal


@given(
    st.sampled_from(["13800138000", "01012345678", "075512345678", "03111234567"]),
    st.sampled_from(["", " ", "-", ".", "  "]),
    st.sampled_from(["{n}", "+86{s}{i}", "0086{s}{i}", "86{s}{i}", "+86{s}(0){i}"]),
)
def test_every_written_form_of_a_number_has_the_same_normal_form(number: str, sep: str, form: str) -> None:
    international = number.removeprefix("0")  # what follows the country code
    grouped = sep.join(international[i : i + 4] for i in range(0, len(international), 4))
    raw = form.format(n=number, s=sep, i=grouped)
    assert NUMBERING.canonical(raw) == number


@given(st.text(max_size=40))
def test_the_normal_form_is_digits_and_stable(raw: str) -> None:
    normal = NUMBERING.canonical(raw)
    assert normal is None or (normal.isascii() and normal.isdigit())
    assert normal is None or NUMBERING.canonical(normal) == normal


def test_a_block_holds_whatever_form_the_trunk_sends() -> None:
    """Entries are matched in normal form however they were stored (old rows, other tools)."""
    inbound = policy(
        BlockEntry("+86 138-0013-8000", False, "harassment", "ma.lin"),
        BlockEntry("+86 755", True, "spam wave", "ma.lin"),
        BlockEntry("010 1234 5678", False, "x", "ma.lin"),
    )
    assert [e.pattern for e in inbound.blocklist.entries] == ["13800138000", "01012345678", "0755"]
    for caller in (
        "13800138000",
        "+8613800138000",
        "008613800138000",
        "+86 138-0013-8000",
        "8613800138000",
        "075512345678",
        "+86 755 1234 5678",
        "0086755 12345678",
        "+86 10 1234 5678",
        "01012345678",
    ):
        decision = decide(inbound, caller)
        assert isinstance(decision, Refuse) and decision.reason == "blocked_caller", caller
    for caller in ("13800138001", "+8613800138001", "75512345", "0075512345678"):
        assert isinstance(decide(inbound, caller), Route), caller
    # an entry added at run time (an automatic block) is normalised too
    inbound.blocklist = inbound.blocklist.adding(BlockEntry("0086 139 0000 0000", False, "auto", "callguard"))
    assert isinstance(decide(inbound, "13900000000"), Refuse)


def test_automatic_block_is_stored_in_normal_form() -> None:
    inbound = policy(auto_block_calls=3)
    decision = decide(inbound, "+86 137-0000-0000", recent=4)
    assert isinstance(decision, Refuse) and decision.new_block is not None
    assert decision.new_block.pattern == "13700000000"


def test_repeat_counts_are_per_normal_form_and_never_for_callers_without_a_number() -> None:
    inbound = policy()
    repeat = RepeatCallers(window_s=600)
    forms = ["13800138000", "+8613800138000", "008613800138000", "+86 138-0013-8000", "8613800138000"]
    counts = [repeat.note(key, t) for t, raw in enumerate(forms) if (key := inbound.caller_key(raw))]
    assert counts == [1, 2, 3, 4, 5]
    assert [inbound.caller_key(raw) for raw in ("", "anonymous", "Unknown", "private", "x")] == [None] * 5


@pytest.mark.parametrize("caller", ["", "anonymous", "unknown", "restricted", "unavailable", "private", "?!"])
def test_anonymous_callers_are_allowed_by_default_and_never_auto_blocked(caller: str) -> None:
    inbound = policy(BlockEntry("", True, "everyone?", "x"), auto_block_calls=1)
    assert InboundSettings().anonymous == "allow"
    assert isinstance(decide(inbound, caller, recent=99), Route)


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted", "PRIVATE", "unavailable", "?!"])
def test_anonymous_callers_are_refused_politely_when_configured(caller: str) -> None:
    decision = decide(policy(anonymous="block"), caller)
    assert isinstance(decision, Refuse) and decision.new_block is None
    assert (decision.reason, decision.rule, decision.prompt, decision.cause) == (
        "anonymous_caller",
        "SEC-1",
        "blocked_caller",
        21,
    )
    assert isinstance(decide(policy(anonymous="block"), "13800138000"), Route)  # callers with a number
    assert isinstance(decide(policy(anonymous="block"), caller, "9101"), Route)  # ANS-5: duty line


def test_the_anonymous_setting_is_checked() -> None:
    with pytest.raises(ValidationError, match="anonymous"):
        InboundSettings.model_validate({"anonymous": "maybe"})
