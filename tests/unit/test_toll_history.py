"""SEC-3 after a restart: which recorded calls count towards the hourly limits, as they did live."""

from __future__ import annotations

import pytest

from callguard.policy.toll import counted_by_toll_guard


@pytest.mark.parametrize(
    ("direction", "number_class", "disposition", "counted"),
    [
        ("outbound", "local", "answered", True),
        ("outbound", "long_distance", "no_answer", True),
        ("outbound", "international", "abandoned", True),
        ("outbound", "long_distance", "pin_refused", True),  # passed the counters, then the PIN
        ("outbound", "local", "in_progress", True),
        ("outbound", "premium", "premium_number", False),
        ("outbound", "international", "above_class", False),
        ("outbound", "local", "inbound_only_line", False),
        ("outbound", "local", "alarm_line_emergency_only", False),
        ("outbound", "local", "quiet_hours", False),
        ("outbound", "local", "toll_fraud_limit", False),
        ("outbound", "local", "invalid_number", False),
        ("outbound", "local", "budget_exhausted", False),
        ("outbound", "emergency", "answered", False),  # OUT-6: never counted
        ("outbound", "invalid", "answered", False),
        ("outbound", None, "answered", False),
        ("internal", None, "answered", False),
        ("inbound", "local", "answered", False),
    ],
)
def test_which_recorded_calls_count_for_sec3(
    direction: str, number_class: str | None, disposition: str, counted: bool
) -> None:
    assert counted_by_toll_guard(direction, number_class, disposition) is counted
