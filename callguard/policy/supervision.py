"""LOG-6 supervision: which outside calls are recorded (a deterministic sample) and under what name.

Pure: the decision is a hash of the call id, so the same call is decided the same way after a
restart, on any node, and a test can name a call that is (or is not) in the sample."""

from __future__ import annotations

import hashlib

RULE = "LOG-6"
NOTICE_PROMPT = "recording_notice"  # "本通话可能被录音", played to the caller before the bridge
_BUCKETS = 10_000  # percentages to two decimal places


def sampled(call_id: str, percent: float) -> bool:
    """True for about `percent` % of call ids; 0 never, 100 always."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    bucket = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big") % _BUCKETS
    return bucket < round(percent * _BUCKETS / 100)


def is_outside(direction: str, number_class: str | None) -> bool:
    """An outside party is on the call: a call from outside, or one dialled out through the trunk
    (never an emergency call: nothing may delay it)."""
    if direction == "inbound":
        return True
    return direction == "outbound" and number_class not in (None, "emergency")


def records_call(call_id: str, percent: float, direction: str, number_class: str | None) -> bool:
    """LOG-6: this answered call is announced and recorded."""
    return is_outside(direction, number_class) and sampled(call_id, percent)


def recording_name(call_id: str) -> str:
    """The stored recording's name in Asterisk (no extension): one per call."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call_id)
    return f"supervision-{safe}"
