"""ANS-1 and ANS-6 violations built by the policy: typed, with the values records always had."""

from __future__ import annotations

from decimal import Decimal

import pytest

from callguard.policy import Hop, Violation, q850
from callguard.policy.violations import refusal, ring_limit

PERSON_HOP = Hop(("1003",), 3, 15.0, True, "person")
DUTY_HOP = Hop(("9101",), 3, 15.0, False, "duty", severity="high")


@pytest.mark.parametrize(
    ("hop", "extension", "person", "expected"),
    [
        (
            PERSON_HOP,
            "1003",
            "chen.jie",
            {
                "rule": "ANS-1",
                "extension": "1003",
                "person": "chen.jie",
                "reason": "not answered within 3 rings (15 s)",
                "fine_yuan": "0",
                "severity": "minor",
            },
        ),
        (
            DUTY_HOP,
            "9101",
            None,
            {
                "rule": "ANS-1",
                "extension": "9101",
                "person": None,
                "reason": "not answered within 3 rings (15 s)",
                "fine_yuan": "0",
                "severity": "high",  # ANS-5: a duty line's missed limit
            },
        ),
        (
            Hop(("2001",), 2, 0.6, True, "assistant"),
            "2001",
            "liu.yang",
            {
                "rule": "ANS-1",
                "extension": "2001",
                "person": "liu.yang",
                "reason": "not answered within 2 rings (0.6 s)",  # the lab's short cadence
                "fine_yuan": "0",
                "severity": "minor",
            },
        ),
    ],
)
def test_ring_limit_violation(
    hop: Hop, extension: str, person: str | None, expected: dict[str, object]
) -> None:
    violation = ring_limit(hop, extension, person)
    assert isinstance(violation, Violation)
    assert violation.fine_yuan == Decimal(0)
    assert violation.as_dict() == expected


@pytest.mark.parametrize(
    ("cause", "idle_before", "colleague_call", "reason"),
    [
        (q850.CALL_REJECTED, False, True, "declined an internal call"),
        (q850.CALL_REJECTED, True, True, "declined an internal call"),
        (q850.USER_BUSY, True, True, "busy while idle"),
        (q850.USER_BUSY, False, True, None),  # really busy: no violation
        (q850.NO_ANSWER, True, True, None),  # rang out: ANS-1's business, not ANS-6's
        (q850.NORMAL, True, True, None),
        (None, True, True, None),
        (q850.CALL_REJECTED, True, False, None),  # an outside caller declined: not ANS-6
        (q850.USER_BUSY, True, False, None),
    ],
)
def test_refusal_violation(
    cause: int | None, idle_before: bool, colleague_call: bool, reason: str | None
) -> None:
    violation = refusal("2003", "zhou.qiang", cause, idle_before, colleague_call)
    if reason is None:
        assert violation is None
        return
    assert violation is not None
    assert violation.as_dict() == {
        "rule": "ANS-6",
        "extension": "2003",
        "person": "zhou.qiang",
        "reason": reason,
        "fine_yuan": "0",
        "severity": "minor",
    }
