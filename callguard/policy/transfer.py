"""XFER-2: whether a call can be handed to the extension an employee typed, and how it rings.

Pure: the directory (through the answering policy) and the target's device state, as AMI last
reported it, come in; a `TransferPlan` or a `TransferRefusal` goes out."""

from __future__ import annotations

from dataclasses import replace

from callguard.policy.answering import AnsweringPolicy
from callguard.policy.decisions import TransferPlan, TransferRefusal

# AMI DeviceStateChange states in which a phone cannot take a transfer (XFER-2).
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"})
# The one state in which a phone is known to be idle (ANS-6: "busy while idle").
IDLE_STATE = "NOT_INUSE"


def is_busy(device_state: str | None) -> bool:
    """Whether a phone in `device_state` counts as busy (an unknown state does not)."""
    return device_state in BUSY_STATES


def is_idle(device_state: str | None) -> bool:
    """Whether AMI saw the phone idle (an unknown state is not idle)."""
    return device_state == IDLE_STATE


def check_target(
    answering: AnsweringPolicy, target: str, by: str, kept: str, device_state: str | None
) -> TransferPlan | TransferRefusal:
    """XFER-2: `by` (the employee who typed the code) hands `kept` (the other party) to `target`.

    The target must be an extension of the directory other than the two people already on
    the call, and its phone not busy. It then rings as a hop of its own for its ANS-1 rings;
    a target that never starts ringing is given up after ANS-3's offline wait."""
    if answering.directory.lookup(target) is None or target in (by, kept):
        return TransferRefusal(result="unknown_extension", prompt="unknown_number", to_holder=True)
    if is_busy(device_state):
        return TransferRefusal(result="unavailable", prompt="target_busy", state=device_state)
    hop = answering.hop([target], "transfer", True, rule="XFER-2")
    return TransferPlan(target, replace(hop, offline_skip_s=answering.settings.offline_after_s))
