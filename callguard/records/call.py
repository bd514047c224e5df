"""What a finished call leaves behind: one CallRecord with its legs (POLICY LOG-1)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from callguard.policy import Party

# Dispositions of a provisional record: written when a call is routed, so that a call still
# leaves a trace if callguard is down when it ends; the final record replaces it.
IN_PROGRESS = "in_progress"
ENDED_UNOBSERVED = "ended_unobserved"


@dataclass(slots=True)
class LegRecord:
    role: str  # "caller" or "callee"
    channel_id: str
    number: str
    started_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    rings_at_answer: int | None = None  # ANS-1/ANS-2: how many rings the caller waited


@dataclass(slots=True)
class CallRecord:
    call_id: str
    node: str
    direction: str
    dialed: str
    caller: Party
    callee: Party | None = None
    started_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    disposition: str = "unknown"
    hangup_cause: int | None = None
    hangup_by: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    legs: list[LegRecord] = field(default_factory=list)
    readopted: bool = False
    # Outside calls (OUT-1..7): what the number was, who authorised it with a PIN, its matter
    # code (the long-distance register, OUT-3), and every rule broken on the call (LOG-5).
    number_class: str | None = None
    authorized_by: str | None = None
    matter: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)  # XFER-2: by, to, at, result
    message: dict[str, Any] | None = None  # XFER-3: the message the caller left
    line: str | None = None  # the caller's desk phone (its PJSIP endpoint), when it has one
    # LOG-4: what an outside call cost (元; 0 when not answered, None when never dialled out or
    # no tariff covers it), the tariff entry that priced it and the budget it was charged to.
    cost: Decimal | None = None
    tariff: str | None = None
    budget: str | None = None
    recording: str | None = None  # LOG-6: the supervision recording's stored name (sampled calls)
    # The prompts callguard played to the caller, in order (kept across a restart, issue 9).
    prompts: list[str] = field(default_factory=list)
    # LOG-1: "dialplan" for a call that never entered Stasis (emergency, fail-safe), recorded
    # from AMI UserEvents or imported from Asterisk's CDR.
    handled_by: str = "callguard"

    @property
    def talk_s(self) -> float | None:
        if self.answered_at and self.ended_at:
            return max(0.0, (self.ended_at - self.answered_at).total_seconds())
        return None

    def as_json(self) -> dict[str, Any]:
        """The JSON form (`records.codec`): the journal format, and what `calls list --json` prints."""
        from callguard.records import codec  # codec imports this module; it is one codec, not two

        return codec.to_json(self)

    def provisional(self) -> CallRecord:
        """A snapshot of this call as it stands, marked in progress. What the call goes on to
        change is copied (its lists, legs and entries); the rest is immutable and shared: a
        deepcopy cost about as much as the rest of the call's step (issue 12)."""
        return replace(
            self,
            disposition=IN_PROGRESS,
            decisions=[dict(d) for d in self.decisions],
            legs=[replace(leg) for leg in self.legs],
            violations=[dict(v) for v in self.violations],
            transfers=[dict(t) for t in self.transfers],
            message=dict(self.message) if self.message is not None else None,
            prompts=list(self.prompts),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        from callguard.records import codec

        return codec.from_json(data)
