"""The answering rules' violations (ANS-1, ANS-6), built as the OUT-* ones are: one typed
`Violation` each, with the fields the record, the ledger (LOG-5) and MQTT carry."""

from __future__ import annotations

from decimal import Decimal

from callguard.policy import q850
from callguard.policy.decisions import Hop, Violation

NO_FINE = Decimal(0)  # answering violations walk the ladder (LOG-5); the policy sets no fine


def ring_limit(hop: Hop, extension: str, person: str | None) -> Violation:
    """ANS-1: `extension` rang the hop's rings and nobody answered; a duty or alarm line's
    missed limit is as severe as its hop says (ANS-5)."""
    return Violation(
        rule="ANS-1",
        extension=extension,
        person=person,
        reason=f"not answered within {hop.rings} rings ({hop.limit_s:g} s)",
        fine_yuan=NO_FINE,
        severity=hop.severity,
    )


def refusal(
    extension: str, person: str | None, cause: int | None, idle_before: bool, colleague_call: bool
) -> Violation | None:
    """ANS-6: a colleague's call (internal, not an outside number dialled) declined, or answered
    "busy" by a phone AMI saw idle just before it rang, is refused; anything else is not."""
    if not colleague_call:
        return None
    if cause == q850.CALL_REJECTED:
        reason = "declined an internal call"
    elif cause == q850.USER_BUSY and idle_before:
        reason = "busy while idle"
    else:
        return None
    return Violation(
        rule="ANS-6", extension=extension, person=person, reason=reason, fine_yuan=NO_FINE, severity="minor"
    )
