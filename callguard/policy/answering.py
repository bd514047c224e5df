"""Who rings, in which order and for how long (ANS-1..7, XFER-1): a call's ring plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callguard.config import AnsweringSettings, LineKind, OfficeHours, Role
from callguard.policy.decisions import CallRequest, Refuse, Route
from callguard.policy.directory import Directory

CAUSE_CLOSED = 19  # "no answer": SIP 480 Temporarily Unavailable

# ANS-5: lines that ring at once and are never diverted.
PRIORITY_LINES = (LineKind.duty, LineKind.alarm)


@dataclass(frozen=True, slots=True)
class Hop:
    """Ring `targets` together for `rings` rings (ANS-1), counted from each phone's 180. With
    `cancel_at_limit` a phone still ringing at the limit is cancelled and the next hop rings."""

    targets: tuple[str, ...]
    rings: int
    limit_s: float
    cancel_at_limit: bool
    reason: str  # assistant, person, colleague, hunt_group, operator, duty, after_hours
    severity: str = "minor"  # a missed limit on a duty or alarm line is "high" (ANS-5)

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "rings": self.rings,
            "limit_s": self.limit_s,
            "cancel_at_limit": self.cancel_at_limit,
            "reason": self.reason,
        }


def is_open(hours: OfficeHours, at: datetime) -> bool:
    if at.date().isoformat() in hours.holidays or at.isoweekday() not in hours.days:
        return False
    now = at.strftime("%H:%M")
    return hours.start <= now < hours.end


class AnsweringPolicy:
    def __init__(self, directory: Directory, settings: AnsweringSettings) -> None:
        self.directory = directory
        self.settings = settings

    def rings(self, extension: str) -> int:
        line = self.directory.line(extension)
        dept = self.directory.department(self.directory.party(extension).department)
        return (line.rings if line else None) or (dept.rings if dept else None) or self.settings.rings

    def _hop(self, targets: list[str], reason: str, cancel: bool, severity: str = "minor") -> Hop:
        # A hop that rings several phones lasts as long as the most patient of them.
        rings = max(self.rings(t) for t in targets)
        return Hop(
            tuple(targets), rings, round(rings * self.settings.ring_cadence_s, 3), cancel, reason, severity
        )

    def _lines_of_kind(self, kind: LineKind) -> list[str]:
        return [
            e for e in self.directory.extensions() if (line := self.directory.line(e)) and line.kind is kind
        ]

    def _bypasses_assistant(self, call: CallRequest, manager_bypass: tuple[str, ...]) -> bool:
        """XFER-1: other managers and the manager's listed outside numbers ring the manager directly."""
        if call.direction == "inbound":
            return call.caller in manager_bypass
        caller = self.directory.person(self.directory.party(call.from_line).person)
        return caller is not None and caller.role in (Role.manager, Role.director)

    def hours_for(self, extension: str) -> OfficeHours:
        dept = self.directory.department(self.directory.party(extension).department)
        return (dept.office_hours if dept else None) or self.settings.office_hours

    def plan(self, call: CallRequest, route: Route) -> Route | Refuse:
        """Turn "ring this extension" into the ring plan the policy asks for."""
        target = route.target
        line = self.directory.line(target)
        party = self.directory.party(target)
        outside = call.direction == "inbound"
        if line is not None and line.kind in PRIORITY_LINES:
            # ANS-5: at once, no greeting, no filter, no assistant, never diverted.
            hop = self._hop([target], line.kind.value, cancel=False, severity="high")
            return Route(target, route.timeout_s, "priority_line", "ANS-5", hops=(hop,))
        greeting = None
        if outside and self.settings.greeting != "off":
            greeting = self.settings.greetings.get(call.dialed) or (
                f"greeting_{party.department}" if party.department else "greeting"
            )
        before = greeting if self.settings.greeting == "before_ringing" else None
        on_answer = greeting if self.settings.greeting == "on_answer" else None
        if outside and call.at is not None and not is_open(self.hours_for(target), call.at):
            hours = self.hours_for(target)
            duty = self._lines_of_kind(LineKind.duty)
            if hours.after_hours == "duty" and duty:
                hop = self._hop(duty, "after_hours", cancel=False, severity="high")
                return Route(
                    target, route.timeout_s, "after_hours", "ANS-7", hops=(hop,), greeting=before,
                    greeting_on_answer=on_answer,
                )  # fmt: skip
            return Refuse(reason="office_closed", cause=CAUSE_CLOSED, rule="ANS-7", prompt="closed_office")
        rung: set[str] = set()
        exclude = {call.from_line} if not outside else set()

        def fresh(extensions: list[str] | tuple[str, ...]) -> list[str]:
            out = [e for e in extensions if e not in rung and e not in exclude and self.directory.lookup(e)]
            rung.update(out)
            return out

        hops: list[Hop] = []
        person = self.directory.person(party.person)
        if (
            person is not None
            and person.assistants
            and not self._bypasses_assistant(call, person.bypass_numbers)
        ):
            assistants = [
                e for a in person.assistants for e in self.directory.extensions()
                if self.directory.party(e).person == a
            ]  # fmt: skip
            if targets := fresh(assistants):
                hops.append(self._hop(targets, "assistant", cancel=True))
        if targets := fresh([target]):
            hops.append(self._hop(targets, "person", cancel=True))
        if outside and (line is None or line.rollover):
            if line is not None and (targets := fresh(line.covered_by)):
                hops.append(self._hop(targets, "colleague", cancel=True))
            dept = self.directory.department(party.department)
            if dept is not None and dept.hunt_mode == "all":
                if targets := fresh(dept.hunt_group):
                    hops.append(self._hop(targets, "hunt_group", cancel=True))
            elif dept is not None:
                for ext in dept.hunt_group:
                    if targets := fresh([ext]):
                        hops.append(self._hop(targets, "hunt_group", cancel=True))
            if targets := fresh(self._lines_of_kind(LineKind.operator)):
                hops.append(self._hop(targets, "operator", cancel=True))
        if not hops:
            return route
        # The last hop of an outside call hands over to message-taking (XFER-3); otherwise it
        # rings on past its limit (answered late: ANS-2) until the no-answer timeout.
        take_message = outside and (line is None or line.rollover)
        last = hops[-1]
        if not take_message:
            hops[-1] = Hop(last.targets, last.rings, last.limit_s, False, last.reason, last.severity)
        rule = "XFER-1" if hops[0].reason == "assistant" else "ANS-3"
        return Route(
            target,
            route.timeout_s,
            route.reason,
            rule,
            hops=tuple(hops),
            message_for=target if take_message else None,
            greeting=before,
            greeting_on_answer=on_answer,
        )
