"""Decisions are data: sessions execute them and the records keep them verbatim."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What is known about a call when it arrives: the facts a decision is made from."""

    caller: str
    dialed: str
    direction: str = "internal"  # "internal" (a desk phone) or "inbound" (the PSTN trunk)
    malformed: bool = False  # the dialplan found characters no dial plan uses in `dialed`
    overloaded: bool = False  # too many calls are still being set up to take this one now
    # The desk phone's line (its PJSIP endpoint): who is calling, whatever caller ID it sent.
    line: str | None = None
    at: datetime | None = None  # local time of the call (quiet hours); None = no time rules
    recent_calls: int = 0  # calls from this outside number in SEC-1's window, this one included

    @property
    def from_line(self) -> str:
        """The line a desk phone's call came from, or "" when the endpoint is unknown (a Local
        channel from a SIP REFER, an empty argument): fail closed, never trust the caller ID."""
        return self.line or ""


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule broken (or attempted) on a call: a row of the violations ledger (LOG-5)."""

    rule: str
    extension: str
    person: str | None
    reason: str
    fine_yuan: Decimal = Decimal(0)  # money: exact, never float
    severity: str = "minor"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as records, logs and MQTT carry it: the fine as a decimal string."""
        return {**asdict(self), "fine_yuan": str(self.fine_yuan)}


@dataclass(frozen=True, slots=True)
class Route:
    """Ring `target` for at most `timeout_s` seconds; with `hops` (a ring plan: ANS-1/3, XFER-1)
    ring those in turn instead, then take a message for `message_for` (XFER-3) if set."""

    target: str
    timeout_s: int
    reason: str
    rule: str | None = None
    hops: tuple[Any, ...] = ()  # answering.Hop
    message_for: str | None = None
    greeting: str | None = None  # prompt before ringing (ANS-4)
    greeting_on_answer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": "route",
            "target": self.target,
            "timeout_s": self.timeout_s,
            "reason": self.reason,
            "rule": self.rule,
        }
        if self.hops:
            out["hops"] = [hop.as_dict() for hop in self.hops]
            out["message_for"] = self.message_for
        if self.greeting or self.greeting_on_answer:
            out["greeting"] = self.greeting or self.greeting_on_answer
        return out


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """One row of the SEC-1 blocklist: a number, or every number starting with `pattern`."""

    pattern: str
    prefix: bool
    reason: str
    added_by: str
    until: datetime | None = None  # automatic blocks end; manual ones stay until removed

    def matches(self, number: str, at: datetime | None) -> bool:
        if self.until is not None and at is not None and at >= self.until:
            return False
        return number.startswith(self.pattern) if self.prefix else number == self.pattern


@dataclass(frozen=True, slots=True)
class Refuse:
    """End the call without ringing anyone; `cause` is the Q.850 cause the caller receives,
    after hearing `prompt` (early media) when there is one."""

    reason: str
    cause: int
    rule: str | None = None
    prompt: str | None = None
    violation: Violation | None = None
    number_class: str | None = None  # set when an outside number was refused
    new_block: BlockEntry | None = None  # SEC-1: block this caller from now on

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": "refuse",
            "reason": self.reason,
            "cause": self.cause,
            "rule": self.rule,
        }
        if self.prompt:
            out["prompt"] = self.prompt
        if self.number_class:
            out["number_class"] = self.number_class
        if self.new_block is not None:
            out["blocked_until"] = self.new_block.until.isoformat() if self.new_block.until else None
        return out


@dataclass(frozen=True, slots=True)
class DurationPolicy:
    """OUT-4 for one call: warn at `limit_s - warn_before_s`, violation at `limit_s`."""

    limit_s: int
    warn_before_s: int
    hard_cap: bool


@dataclass(frozen=True, slots=True)
class DialOut:
    """Call `number` through `trunk`, after asking for a PIN and/or a matter code (OUT-3) and
    playing `reminder` (OUT-7) where the decision says so."""

    number: str
    number_class: str
    trunk: str
    timeout_s: int
    reason: str
    rule: str | None = None
    needs_pin: bool = False
    needs_matter: bool = False
    reminder: str | None = None
    duration: DurationPolicy | None = None
    budget: str | None = None  # LOG-4: the budget the call is charged to ("department:sales")

    @property
    def emergency(self) -> bool:
        return self.number_class == "emergency"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "dial_out",
            "number": self.number,
            "number_class": self.number_class,
            "reason": self.reason,
            "rule": self.rule,
            "needs_pin": self.needs_pin,
            "needs_matter": self.needs_matter,
            "reminder": self.reminder,
            "duration_limit_s": self.duration.limit_s if self.duration else None,
            "hard_cap": self.duration.hard_cap if self.duration else None,
            **({"budget": self.budget} if self.budget else {}),
        }


Decision = Route | Refuse | DialOut
