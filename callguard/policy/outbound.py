"""Calls from company phones to outside numbers: OUT-1..OUT-7 and SEC-3, decided from data."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from callguard.config import LineKind, NumberClass, OutboundSettings, QuietHours, ServiceClass, TollGuard
from callguard.policy import q850
from callguard.policy.budgets import BudgetSnapshot
from callguard.policy.decisions import CallRequest, DialOut, DurationPolicy, Refuse, Violation
from callguard.policy.directory import Directory
from callguard.policy.numbers import INVALID, REQUIRED_CLASS, Numbering, NumberPlan, covers
from callguard.policy.pins import PinBook
from callguard.policy.tariffs import TariffTable

NO_FINE = Decimal(0)  # 元: money is Decimal, never float

# Who a violation names when the call came from no known endpoint (class internal: fail closed).
UNKNOWN_LINE = "unknown"

# Lines that may not place outside calls (emergency calls are always allowed: OUT-6).
_INBOUND_ONLY = (LineKind.front_desk, LineKind.inbound_only)


def in_window(at: datetime, window: QuietHours) -> bool:
    minute = at.hour * 60 + at.minute
    start = _minutes(window.start)
    end = _minutes(window.end)
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end  # the window wraps midnight


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class OutboundPolicy:
    def __init__(
        self,
        directory: Directory,
        settings: OutboundSettings,
        pins: PinBook | None = None,
        tariffs: TariffTable | None = None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.pins = pins or PinBook()
        self.tariffs = tariffs or TariffTable()  # LOG-4: prices finished calls
        # LOG-4: this month's budgets and spends, replaced by the BudgetKeeper as it refreshes.
        self.budgets: BudgetSnapshot | None = None
        self.plan = NumberPlan(
            settings.number_rules,
            settings.access_code,
            settings.emergency_numbers,
            Numbering(settings.numbering),
        )

    # --- who may call what -------------------------------------------------------------------

    def person_class(self, person_id: str | None) -> ServiceClass:
        person = self.directory.person(person_id)
        if person is None:
            return ServiceClass.internal
        return person.class_of_service or self.settings.class_by_role.get(person.role, ServiceClass.internal)

    def line_class(self, extension: str) -> ServiceClass:
        """The line's own class, else its person's, else internal only."""
        line = self.directory.line(extension)
        if line is None:
            return ServiceClass.internal
        return line.class_of_service or self.person_class(line.person)

    def _violation(
        self, call: CallRequest, rule: str, reason: str, fine: Decimal = NO_FINE, severity: str = "minor"
    ) -> Violation:
        party = self.directory.party(call.from_line)
        return Violation(
            rule=rule,
            extension=call.from_line or UNKNOWN_LINE,
            person=party.person,
            reason=reason,
            fine_yuan=fine,
            severity=severity,
        )

    def _class_fine(self, need: ServiceClass) -> Decimal:
        fines = self.settings.fines
        return {
            ServiceClass.national: fines.national,
            ServiceClass.hk_macau: fines.hk_macau,
            ServiceClass.international: fines.international,
        }.get(need, NO_FINE)

    # --- decisions ---------------------------------------------------------------------------

    def decide(self, call: CallRequest) -> DialOut | Refuse | None:
        """The decision for a call from a desk phone, or None when it is an ordinary internal call."""
        line = self.directory.line(call.from_line)
        kind = line.kind if line else None
        if self.plan.is_emergency(call.dialed):
            # OUT-6: from every line, no filters, no limits. The shipped dialplan sends these
            # straight to the trunk; this is for numbers added to config but not to the dialplan.
            return DialOut(
                number=self.plan.classify(call.dialed).number,
                number_class=NumberClass.emergency.value,
                trunk=self.settings.trunk,
                timeout_s=self.settings.ring_timeout_s,
                reason="emergency",
                rule="OUT-6",
            )
        if kind is LineKind.alarm:
            return Refuse(
                reason="alarm_line_emergency_only",
                cause=q850.CALL_REJECTED,
                rule="OUT-5",
                prompt="refused_class",
                violation=self._violation(call, "OUT-5", "the alarm line dials emergency numbers only"),
            )
        if self.directory.lookup(call.dialed) is not None or not self.plan.wants_outside_line(call.dialed):
            return None
        number = self.plan.classify(call.dialed)
        if number.number_class == INVALID:
            return Refuse(
                reason="invalid_number",
                cause=q850.UNALLOCATED,
                prompt="unknown_number",
                number_class=INVALID,
            )
        number_class = NumberClass(number.number_class)
        if number_class is NumberClass.premium:
            fines = self.settings.fines
            return Refuse(
                reason="premium_number",
                cause=q850.CALL_REJECTED,
                number_class=number_class.value,
                rule="OUT-1",
                prompt="refused_premium",
                violation=self._violation(
                    call,
                    "OUT-1",
                    f"dialled premium-rate number {number.number}",
                    fines.premium_base + fines.premium_cost_multiplier * fines.premium_estimated_cost,
                    "serious",
                ),
            )
        if line is None:
            # OUT-2 fails closed: a call from no known line (a Local channel from a SIP REFER, an
            # endpoint that is not a desk phone) has class internal and no PIN can lift it, since
            # nobody is accountable for it. Its caller ID is only a claim.
            return Refuse(
                reason="unknown_line",
                cause=q850.CALL_REJECTED,
                number_class=number_class.value,
                rule="OUT-2",
                prompt="refused_class",
                violation=self._violation(
                    call, "OUT-2", "outside call from an unknown endpoint", NO_FINE, "alert"
                ),
            )
        if kind in _INBOUND_ONLY:
            return Refuse(
                reason="inbound_only_line",
                cause=q850.CALL_REJECTED,
                number_class=number_class.value,
                rule="OUT-5",
                prompt="refused_class",
                violation=self._violation(call, "OUT-5", "this line only receives calls"),
            )
        quiet = self._quiet_hours(call)
        if quiet is not None and quiet.action == "refuse":
            return Refuse(
                reason="quiet_hours",
                cause=q850.CALL_REJECTED,
                rule="OUT-7",
                prompt="quiet_hours",
                number_class=number_class.value,
            )
        need = REQUIRED_CLASS[number_class]
        over_budget = self._over_budget(call, number_class, need)
        if over_budget is not None:
            return over_budget
        needs_pin = False
        if not covers(self.line_class(call.from_line), need):
            if need in self.settings.pin_classes and self.pins:
                needs_pin = True
            else:
                return Refuse(
                    reason="above_class",
                    cause=q850.CALL_REJECTED,
                    number_class=number_class.value,
                    rule="OUT-2",
                    prompt="refused_class",
                    violation=self._violation(
                        call,
                        "OUT-2",
                        f"{number_class.value} call without authorisation",
                        self._class_fine(need),
                    ),
                )
        limit = self.settings.durations.get(number_class)
        return DialOut(
            number=number.number,
            number_class=number_class.value,
            trunk=self.settings.trunk,
            timeout_s=self.settings.ring_timeout_s,
            reason="outside_call",
            rule="OUT-3" if needs_pin else ("OUT-2" if need is not ServiceClass.local else None),
            needs_pin=needs_pin,
            needs_matter=need in self.settings.matter_classes,
            reminder="quiet_hours" if quiet is not None else None,
            duration=DurationPolicy(limit.limit_s, limit.warn_before_s, limit.hard_cap) if limit else None,
            budget=self._charged_to(call),
        )

    def _charged_to(self, call: CallRequest) -> str | None:
        party = self.directory.party(call.from_line)
        return self.budgets.charged_to(party.person, party.department) if self.budgets else None

    def _over_budget(self, call: CallRequest, number_class: NumberClass, need: ServiceClass) -> Refuse | None:
        """LOG-4 at 100 %: a `block` budget refuses every outside call (emergency ones were let
        through above, OUT-6); a `downgrade` budget refuses calls above its class."""
        if self.budgets is None:
            return None
        party = self.directory.party(call.from_line)
        budget = self.budgets.limit(party.person, party.department)
        if budget is None or (budget.action == "downgrade" and covers(budget.downgrade_to, need)):
            return None
        blocked = budget.action == "block"
        return Refuse(
            reason="budget_exhausted" if blocked else "above_class",
            cause=q850.CALL_REJECTED,
            number_class=number_class.value,
            rule="LOG-4",
            prompt="budget_exhausted" if blocked else "refused_class",
        )

    def _quiet_hours(self, call: CallRequest) -> QuietHours | None:
        if call.at is None:
            return None
        department = self.directory.party(call.from_line).department
        for window in self.settings.quiet_hours:
            if department in window.departments and in_window(call.at, window):
                return window
        return None

    def pin_covers(self, dial: DialOut, owner: str) -> bool:
        """Whether the PIN's owner may make this call (OUT-3): their class, not the line's, counts."""
        return covers(self.person_class(owner), REQUIRED_CLASS[NumberClass(dial.number_class)])

    def pin_refused(self, call: CallRequest, dial: DialOut) -> Refuse:
        """After `pin_attempts` wrong PINs: refused, logged, and fined as an unauthorised attempt."""
        need = REQUIRED_CLASS[NumberClass(dial.number_class)]
        return Refuse(
            reason="pin_refused",
            cause=q850.CALL_REJECTED,
            rule="OUT-3",
            prompt="refused_class",
            violation=self._violation(
                call,
                "OUT-2",
                f"{dial.number_class} call: {self.settings.pin_attempts} wrong authorization codes",
                self._class_fine(need),
            ),
        )

    def pin_locked(self, call: CallRequest, until: datetime) -> Refuse:
        """Too many wrong codes on this line (or its person's lines): no PIN is even asked for."""
        return Refuse(
            reason="pin_locked",
            cause=q850.CALL_REJECTED,
            rule="OUT-3",
            prompt="refused_class",
            violation=self._violation(
                call,
                "OUT-3",
                f"PIN entry locked until {until.isoformat(timespec='seconds')} after repeated wrong codes",
                NO_FINE,
                "alert",
            ),
        )

    def no_matter(self, call: CallRequest) -> Refuse:
        return Refuse(reason="no_matter_code", cause=q850.CALL_REJECTED, rule="OUT-3", prompt="refused_class")

    def over_duration(self, call: CallRequest, dial: DialOut) -> Violation:
        assert dial.duration is not None
        return self._violation(
            call, "OUT-4", f"{dial.number_class} call longer than {dial.duration.limit_s} s", NO_FINE
        )

    def toll_refused(self, call: CallRequest, why: str) -> Refuse:
        return Refuse(
            reason="toll_fraud_limit",
            cause=q850.CALL_REJECTED,
            rule="SEC-3",
            prompt="refused_limit",
            violation=self._violation(call, "SEC-3", why, NO_FINE, "alert"),
        )


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
