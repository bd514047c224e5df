"""Q.850 causes and dispositions: one table for the session, the dialplan's calls and the CDR."""

from __future__ import annotations

import pytest

from callguard.policy import q850


@pytest.mark.parametrize(
    ("cause", "default", "disposition"),
    [
        (q850.USER_BUSY, "failed", "busy"),
        (q850.CALL_REJECTED, "failed", "declined"),
        (q850.NO_USER_RESPONSE, "failed", "no_answer"),
        (q850.NO_ANSWER, "failed", "no_answer"),
        (q850.NO_ROUTE_DESTINATION, "failed", "unavailable"),
        (q850.SUBSCRIBER_ABSENT, "failed", "unavailable"),  # ANS-3: an offline phone skipped
        (q850.DESTINATION_OUT_OF_ORDER, "failed", "unavailable"),
        (q850.NETWORK_OUT_OF_ORDER, "failed", "unavailable"),
        (q850.CONGESTION, "failed", "failed"),  # a leg Asterisk could not create
        (q850.NORMAL, "failed", "failed"),
        (None, "failed", "failed"),
        (q850.NORMAL, "unavailable", "unavailable"),  # XFER-2: a transfer target that went away
    ],
)
def test_a_callee_leg_ended_before_answer_explains_the_call(
    cause: int | None, default: str, disposition: str
) -> None:
    assert q850.unanswered(cause, default) == disposition


@pytest.mark.parametrize(
    ("status", "disposition"),
    [
        ("ANSWER", "answered"),
        ("BUSY", "busy"),
        ("NOANSWER", "no_answer"),
        ("CANCEL", "abandoned"),
        ("CONGESTION", "unavailable"),
        ("CHANUNAVAIL", "unavailable"),
        ("TORTURE", "torture"),  # a status no table knows is kept, lower-cased
    ],
)
def test_a_dialplan_dial_status_is_a_disposition(status: str, disposition: str) -> None:
    assert q850.dial_status(status) == disposition


@pytest.mark.parametrize(
    ("value", "disposition"),
    [
        ("ANSWERED", "answered"),
        ("NO ANSWER", "no_answer"),
        ("no answer", "no_answer"),
        ("BUSY", "busy"),
        ("FAILED", "failed"),
        ("CONGESTION", "failed"),
        ("", "failed"),
    ],
)
def test_a_cdr_disposition_is_a_disposition(value: str, disposition: str) -> None:
    assert q850.cdr_disposition(value) == disposition


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (q850.UNALLOCATED, "unknown_extension"),
        (q850.CALL_REJECTED, "refused"),
        (q850.INVALID_NUMBER_FORMAT, "malformed_number"),
        (q850.NORMAL, "refused"),
        (None, "refused"),
    ],
)
def test_a_dialplan_refusal_is_named_by_its_cause(cause: int | None, reason: str) -> None:
    assert q850.dialplan_refusal(cause) == reason


def test_the_causes_are_the_standard_q850_values() -> None:
    # Asterisk maps these numbers to SIP responses; a typo here changes what phones see.
    assert (q850.UNALLOCATED, q850.NORMAL, q850.USER_BUSY, q850.NO_ANSWER, q850.CALL_REJECTED) == (
        1,
        16,
        17,
        19,
        21,
    )
    assert (q850.ANSWERED_ELSEWHERE, q850.INVALID_NUMBER_FORMAT, q850.CONGESTION) == (26, 28, 34)
