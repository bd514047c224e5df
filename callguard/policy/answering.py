"""Who rings, in which order and for how long (ANS-1..7, XFER-1): a call's ring plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from callguard.config import AnsweringSettings, LineKind, OfficeHours, Role
from callguard.policy import q850
from callguard.policy.decisions import CallRequest, Hop, Refuse, Route
from callguard.policy.directory import Directory

# ANS-5: lines that ring at once and are never diverted.
PRIORITY_LINES = (LineKind.duty, LineKind.alarm)


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

    def hop(
        self,
        targets: list[str] | tuple[str, ...],
        reason: str,
        cancel: bool,
        severity: str = "minor",
        rule: str | None = None,
    ) -> Hop:
        """A hop of `targets`: it lasts as long as the most patient of them rings (ANS-1); a
        late answer hears the apology when the settings ask for it (ANS-2)."""
        rings = max(self.rings(t) for t in targets)
        limit_s = round(rings * self.settings.ring_cadence_s, 3)
        apology = self.settings.apology
        return Hop(tuple(targets), rings, limit_s, cancel, reason, severity, None, apology, rule)

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
        if line is not None and line.kind in PRIORITY_LINES:
            # ANS-5: at once, no greeting, no filter, no assistant, never diverted.
            hop = self.hop([target], line.kind.value, False, severity="high", rule="ANS-5")
            return Route(target, route.timeout_s, "priority_line", "ANS-5", hops=(hop,))
        before, on_answer = self._greetings(call, target)
        if (
            call.direction == "inbound"
            and call.at is not None
            and not is_open(self.hours_for(target), call.at)
        ):
            return self._after_hours(target, route.timeout_s, before, on_answer)
        hops = self._ring_order(call, target)
        if not hops:
            return route
        # The last hop of an outside call hands over to message-taking (XFER-3); otherwise it
        # rings on past its limit (answered late: ANS-2) until the no-answer timeout.
        take_message = call.direction == "inbound" and (line is None or line.rollover)
        if not take_message:
            hops[-1] = replace(hops[-1], cancel_at_limit=False)
        hops = self._with_hints(hops)
        return Route(
            target,
            route.timeout_s,
            route.reason,
            hops[0].rule,
            hops=tuple(hops),
            message_for=target if take_message else None,
            greeting=before,
            greeting_on_answer=on_answer,
        )

    def _greetings(self, call: CallRequest, target: str) -> tuple[str | None, str | None]:
        """ANS-4: the greeting an outside caller hears before ringing, or once answered."""
        mode = self.settings.greeting
        if call.direction != "inbound" or mode == "off":
            return None, None
        department = self.directory.party(target).department
        greeting = self.settings.greetings.get(call.dialed) or (
            f"greeting_{department}" if department else "greeting"
        )
        return (greeting if mode == "before_ringing" else None), (greeting if mode == "on_answer" else None)

    def _after_hours(
        self, target: str, timeout_s: int, before: str | None, on_answer: str | None
    ) -> Route | Refuse:
        """ANS-7: outside office hours the duty lines ring, or the caller hears that it is closed."""
        duty = self._lines_of_kind(LineKind.duty)
        if self.hours_for(target).after_hours == "duty" and duty:
            hop = self.hop(duty, "after_hours", False, severity="high", rule="ANS-7")
            return Route(
                target, timeout_s, "after_hours", "ANS-7", hops=(hop,), greeting=before,
                greeting_on_answer=on_answer,
            )  # fmt: skip
        return Refuse(reason="office_closed", cause=q850.NO_ANSWER, rule="ANS-7", prompt="closed_office")

    def _assistants(self, call: CallRequest, target: str) -> list[str]:
        """XFER-1: the extensions of the person's assistants, unless the caller bypasses them."""
        person = self.directory.person(self.directory.party(target).person)
        if person is None or not person.assistants or self._bypasses_assistant(call, person.bypass_numbers):
            return []
        return [
            e for a in person.assistants for e in self.directory.extensions()
            if self.directory.party(e).person == a
        ]  # fmt: skip

    def _rollover(self, target: str) -> list[tuple[list[str] | tuple[str, ...], str]]:
        """ANS-3: after the person, an outside call rolls over to colleagues, the department's
        hunt group (all at once, or one by one) and the operators."""
        line = self.directory.line(target)
        if line is not None and not line.rollover:
            return []
        steps: list[tuple[list[str] | tuple[str, ...], str]] = []
        if line is not None:
            steps.append((line.covered_by, "colleague"))
        dept = self.directory.department(self.directory.party(target).department)
        if dept is not None and dept.hunt_mode == "all":
            steps.append((dept.hunt_group, "hunt_group"))
        elif dept is not None:
            steps.extend(([ext], "hunt_group") for ext in dept.hunt_group)
        steps.append((self._lines_of_kind(LineKind.operator), "operator"))
        return steps

    def _ring_order(self, call: CallRequest, target: str) -> list[Hop]:
        """The hops, each phone rung once at most, never the calling line itself."""
        outside = call.direction == "inbound"
        steps: list[tuple[list[str] | tuple[str, ...], str]] = [
            (self._assistants(call, target), "assistant"),
            ([target], "person"),
        ]
        if outside:
            steps.extend(self._rollover(target))
        rung: set[str] = set() if outside else {call.from_line}
        hops = []
        for extensions, reason in steps:
            fresh = [e for e in extensions if e not in rung and self.directory.lookup(e)]
            rung.update(fresh)
            if fresh:
                hops.append(self.hop(fresh, reason, True))
        return hops

    def _with_hints(self, hops: list[Hop]) -> list[Hop]:
        """What the session needs to ring the plan without deciding: the rule each hop follows
        and ANS-3's offline skip (only where a later hop can take the call)."""
        skip = self.settings.offline_after_s if len(hops) > 1 else None
        return [
            replace(hop, rule="XFER-1" if hop.reason == "assistant" else "ANS-3", offline_skip_s=skip)
            for hop in hops
        ]
