"""SEC-3 against toll fraud: the outside-call counters, and which recorded calls count in them
after a restart. Pure bookkeeping: the caller passes the (monotonic) time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from callguard.config import TollGuard
from callguard.policy.numbers import INVALID

# SEC-3: refusals that never passed the toll-fraud counters; every other outside call did.
NOT_COUNTED_BY_TOLL_GUARD = frozenset(
    {
        "premium_number",
        "above_class",
        "inbound_only_line",
        "alarm_line_emergency_only",
        "quiet_hours",
        "toll_fraud_limit",
        "invalid_number",
        "budget_exhausted",
    }
)


def counted_by_toll_guard(direction: str, number_class: str | None, disposition: str | None) -> bool:
    """SEC-3: whether a recorded call counts towards the hourly limits after a restart, as it
    counted live: an outside call of a real class that the counters admitted."""
    if direction != "outbound" or number_class in (None, "emergency", INVALID):
        return False
    return disposition not in NOT_COUNTED_BY_TOLL_GUARD


@dataclass
class _Active:
    extension: str


class TollFraudGuard:
    """SEC-3: counts outside calls per extension and in total, concurrently and per rolling hour.
    Pure bookkeeping: the caller passes the (monotonic) time."""

    HOUR_S = 3600.0

    def __init__(self, limits: TollGuard) -> None:
        self.limits = limits
        self._active: dict[str, _Active] = {}
        self._starts: dict[str, deque[float]] = {}
        self._all_starts: deque[float] = deque()

    def admit(self, call_id: str, extension: str, now: float) -> str | None:
        """Count the call and return None, or say which limit it would break (and count nothing)."""
        horizon = now - self.HOUR_S
        ext_starts = self._starts.setdefault(extension, deque())
        for starts in (ext_starts, self._all_starts):
            while starts and starts[0] <= horizon:
                starts.popleft()
        ext_active = sum(1 for a in self._active.values() if a.extension == extension)
        limits = self.limits
        if ext_active >= limits.per_extension_concurrent:
            return f"{ext_active} outside calls already in progress on {extension}"
        if len(ext_starts) >= limits.per_extension_per_hour:
            return f"{len(ext_starts)} outside calls from {extension} in the last hour"
        if len(self._active) >= limits.total_concurrent:
            return f"{len(self._active)} outside calls already in progress in total"
        if len(self._all_starts) >= limits.total_per_hour:
            return f"{len(self._all_starts)} outside calls in the last hour in total"
        self._active[call_id] = _Active(extension)
        ext_starts.append(now)
        self._all_starts.append(now)
        return None

    def release(self, call_id: str) -> None:
        self._active.pop(call_id, None)

    def remember(self, extension: str, started: float) -> None:
        """An outside call from before a restart (from the records) still counts for its hour."""
        self._starts.setdefault(extension, deque()).append(started)
        self._all_starts.append(started)
        for starts in (self._starts[extension], self._all_starts):
            if len(starts) > 1 and starts[-2] > started:  # keep each window in time order
                ordered = sorted(starts)
                starts.clear()
                starts.extend(ordered)
