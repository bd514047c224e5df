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
class Hop:
    """Ring `targets` together for `rings` rings (ANS-1), counted from each phone's 180. With
    `cancel_at_limit` a phone still ringing at the limit is cancelled and the next hop rings.

    The hop also says how the session treats its legs, so that the session decides nothing:
    `offline_skip_s` (ANS-3: a phone not ringing after this long is skipped, None = wait),
    `apology` (ANS-2: a late answer hears the apology) and `rule`, the rule its ringing
    follows in logs and events ("XFER-1" for an assistant, "ANS-3" for a roll-over)."""

    targets: tuple[str, ...]
    rings: int
    limit_s: float
    cancel_at_limit: bool
    reason: str  # assistant, person, colleague, hunt_group, operator, duty, after_hours, transfer
    severity: str = "minor"  # a missed limit on a duty or alarm line is "high" (ANS-5)
    offline_skip_s: float | None = None
    apology: bool = False
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The hop as the record's decision keeps it (the session's hints are not recorded)."""
        return {
            "targets": list(self.targets),
            "rings": self.rings,
            "limit_s": self.limit_s,
            "cancel_at_limit": self.cancel_at_limit,
            "reason": self.reason,
        }

    @property
    def cadence_s(self) -> float:
        """Seconds per ring (0 when the hop has no ring limit)."""
        return self.limit_s / self.rings if self.rings else 0.0

    def rings_after(self, rang_s: float) -> int | None:
        """Which ring a phone of this hop was at after ringing `rang_s` seconds (ANS-2)."""
        cadence = self.cadence_s
        return int(rang_s // cadence) + 1 if cadence > 0 else None


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """XFER-2: ring `target` (an extension of the directory, idle) as a hop of its own."""

    target: str
    hop: Hop


@dataclass(frozen=True, slots=True)
class TransferRefusal:
    """XFER-2: why a transfer cannot go ahead (`result` as the record's transfer entry keeps
    it), the prompt the person who typed the code hears, and the device state that refused it."""

    result: str  # "unknown_extension" | "unavailable"
    prompt: str
    state: str | None = None
    # An unknown extension is told to the one who typed it; a busy target to the party on
    # hold (who first hears the hold prompt, as for a transfer that goes ahead).
    to_holder: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """Ring `target` for at most `timeout_s` seconds; with `hops` (a ring plan: ANS-1/3, XFER-1)
    ring those in turn instead, then take a message for `message_for` (XFER-3) if set."""

    target: str
    timeout_s: int
    reason: str
    rule: str | None = None
    hops: tuple[Hop, ...] = ()
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
