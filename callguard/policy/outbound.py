"""Calls from company phones to outside numbers: OUT-1..OUT-7 and SEC-3, decided from data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from callguard.config import (
    Line,
    LineKind,
    NumberClass,
    OutboundSettings,
    QuietHours,
    ServiceClass,
)
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


@dataclass(frozen=True, slots=True)
class _Outside:
    """An outside call being decided: who calls from which line, the number and its class."""

    call: CallRequest
    line: Line | None
    number: str
    number_class: NumberClass
    quiet: QuietHours | None  # OUT-7: the quiet-hours window the call falls in


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

    def _refuse(
        self,
        call: CallRequest,
        reason: str,
        rule: str,
        why: str | None = None,
        *,
        number_class: NumberClass | None = None,
        prompt: str = "refused_class",
        fine: Decimal = NO_FINE,
        severity: str = "minor",
        violation_rule: str | None = None,
    ) -> Refuse:
        """An outside call refused by `rule` (call rejected, SIP 403); with `why`, a violation
        of `violation_rule` (default the same rule) goes on the caller's record."""
        violation = None
        if why is not None:
            violation = self._violation(call, violation_rule or rule, why, fine, severity)
        return Refuse(
            reason=reason,
            cause=q850.CALL_REJECTED,
            rule=rule,
            prompt=prompt,
            violation=violation,
            number_class=number_class.value if number_class else None,
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
        if self.plan.is_emergency(call.dialed):
            return self._emergency(call)
        if line is not None and line.kind is LineKind.alarm:
            return self._refuse(
                call, "alarm_line_emergency_only", "OUT-5", "the alarm line dials emergency numbers only"
            )
        if self.directory.lookup(call.dialed) is not None or not self.plan.wants_outside_line(call.dialed):
            return None
        number = self.plan.classify(call.dialed)
        if number.number_class == INVALID:
            return Refuse(
                reason="invalid_number", cause=q850.UNALLOCATED, prompt="unknown_number", number_class=INVALID
            )
        outside = _Outside(
            call, line, number.number, NumberClass(number.number_class), self._quiet_hours(call)
        )
        # The rules in order; the first that refuses decides (OUT-1, OUT-2, OUT-5, OUT-7, LOG-4).
        for rule in (
            self._premium,
            self._unknown_line,
            self._inbound_only,
            self._quiet_hours_refusal,
            self._over_budget,
            self._above_class,
        ):
            refusal = rule(outside)
            if refusal is not None:
                return refusal
        return self._dial_out(outside)

    def _emergency(self, call: CallRequest) -> DialOut:
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

    def _premium(self, out: _Outside) -> Refuse | None:
        if out.number_class is not NumberClass.premium:
            return None
        fines = self.settings.fines
        fine = fines.premium_base + fines.premium_cost_multiplier * fines.premium_estimated_cost
        why = f"dialled premium-rate number {out.number}"
        return self._refuse(
            out.call,
            "premium_number",
            "OUT-1",
            why,
            number_class=out.number_class,
            prompt="refused_premium",
            fine=fine,
            severity="serious",
        )

    def _unknown_line(self, out: _Outside) -> Refuse | None:
        # OUT-2 fails closed: a call from no known line (a Local channel from a SIP REFER, an
        # endpoint that is not a desk phone) has class internal and no PIN can lift it, since
        # nobody is accountable for it. Its caller ID is only a claim.
        if out.line is not None:
            return None
        why = "outside call from an unknown endpoint"
        return self._refuse(
            out.call, "unknown_line", "OUT-2", why, number_class=out.number_class, severity="alert"
        )

    def _inbound_only(self, out: _Outside) -> Refuse | None:
        if out.line is None or out.line.kind not in _INBOUND_ONLY:
            return None
        why = "this line only receives calls"
        return self._refuse(out.call, "inbound_only_line", "OUT-5", why, number_class=out.number_class)

    def _quiet_hours_refusal(self, out: _Outside) -> Refuse | None:
        if out.quiet is None or out.quiet.action != "refuse":
            return None
        return self._refuse(
            out.call, "quiet_hours", "OUT-7", number_class=out.number_class, prompt="quiet_hours"
        )

    def _needs_pin(self, out: _Outside) -> bool:
        """OUT-2/OUT-3: above the line's class, a call of a PIN class may be authorised."""
        need = REQUIRED_CLASS[out.number_class]
        above = not covers(self.line_class(out.call.from_line), need)
        return above and need in self.settings.pin_classes and bool(self.pins)

    def _above_class(self, out: _Outside) -> Refuse | None:
        need = REQUIRED_CLASS[out.number_class]
        if covers(self.line_class(out.call.from_line), need) or self._needs_pin(out):
            return None
        why = f"{out.number_class.value} call without authorisation"
        return self._refuse(
            out.call, "above_class", "OUT-2", why, number_class=out.number_class, fine=self._class_fine(need)
        )

    def _dial_out(self, out: _Outside) -> DialOut:
        need = REQUIRED_CLASS[out.number_class]
        needs_pin = self._needs_pin(out)
        limit = self.settings.durations.get(out.number_class)
        return DialOut(
            number=out.number,
            number_class=out.number_class.value,
            trunk=self.settings.trunk,
            timeout_s=self.settings.ring_timeout_s,
            reason="outside_call",
            rule="OUT-3" if needs_pin else ("OUT-2" if need is not ServiceClass.local else None),
            needs_pin=needs_pin,
            needs_matter=need in self.settings.matter_classes,
            reminder="quiet_hours" if out.quiet is not None else None,
            duration=DurationPolicy(limit.limit_s, limit.warn_before_s, limit.hard_cap) if limit else None,
            budget=self._charged_to(out.call),
        )

    def _charged_to(self, call: CallRequest) -> str | None:
        party = self.directory.party(call.from_line)
        return self.budgets.charged_to(party.person, party.department) if self.budgets else None

    def _over_budget(self, out: _Outside) -> Refuse | None:
        """LOG-4 at 100 %: a `block` budget refuses every outside call (emergency ones were let
        through above, OUT-6); a `downgrade` budget refuses calls above its class."""
        if self.budgets is None:
            return None
        party = self.directory.party(out.call.from_line)
        budget = self.budgets.limit(party.person, party.department)
        need = REQUIRED_CLASS[out.number_class]
        if budget is None or (budget.action == "downgrade" and covers(budget.downgrade_to, need)):
            return None
        if budget.action == "block":
            return self._refuse(
                out.call,
                "budget_exhausted",
                "LOG-4",
                number_class=out.number_class,
                prompt="budget_exhausted",
            )
        return self._refuse(out.call, "above_class", "LOG-4", number_class=out.number_class)

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
        why = f"{dial.number_class} call: {self.settings.pin_attempts} wrong authorization codes"
        return self._refuse(
            call, "pin_refused", "OUT-3", why, fine=self._class_fine(need), violation_rule="OUT-2"
        )

    def pin_locked(self, call: CallRequest, until: datetime) -> Refuse:
        """Too many wrong codes on this line (or its person's lines): no PIN is even asked for."""
        why = f"PIN entry locked until {until.isoformat(timespec='seconds')} after repeated wrong codes"
        return self._refuse(call, "pin_locked", "OUT-3", why, severity="alert")

    def no_matter(self, call: CallRequest) -> Refuse:
        return self._refuse(call, "no_matter_code", "OUT-3")

    def over_duration(self, call: CallRequest, dial: DialOut) -> Violation:
        assert dial.duration is not None
        return self._violation(
            call, "OUT-4", f"{dial.number_class} call longer than {dial.duration.limit_s} s", NO_FINE
        )

    def toll_refused(self, call: CallRequest, why: str) -> Refuse:
        return self._refuse(call, "toll_fraud_limit", "SEC-3", why, prompt="refused_limit", severity="alert")
