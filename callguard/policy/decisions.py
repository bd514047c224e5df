"""Decisions are data: sessions execute them and the records keep them verbatim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What is known about a call when it arrives: the facts a decision is made from."""

    caller: str
    dialed: str
    direction: str = "internal"  # "internal" (a desk phone) or "inbound" (the PSTN trunk)
    malformed: bool = False  # the dialplan found characters no dial plan uses in `dialed`
    overloaded: bool = False  # too many calls are still being set up to take this one now


@dataclass(frozen=True, slots=True)
class Route:
    """Ring `target` for at most `timeout_s` seconds."""

    target: str
    timeout_s: int
    reason: str
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "route",
            "target": self.target,
            "timeout_s": self.timeout_s,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class Refuse:
    """End the call without ringing anyone; `cause` is the Q.850 cause the caller receives."""

    reason: str
    cause: int
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": "refuse", "reason": self.reason, "cause": self.cause, "rule": self.rule}


Decision = Route | Refuse
