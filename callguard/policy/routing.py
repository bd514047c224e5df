"""Where a call goes: refused (overload, a malformed number, OUT-*, SEC-1, an unknown
extension), dialled out (OUT-*), or routed to an extension, whose ring plan is ANS-1..7's
(`answering.plan`)."""

from __future__ import annotations

from callguard.policy import q850
from callguard.policy.answering import AnsweringPolicy
from callguard.policy.decisions import CallRequest, Decision, Refuse, Route
from callguard.policy.directory import Directory, Party
from callguard.policy.inbound import InboundPolicy
from callguard.policy.outbound import OutboundPolicy


def calling_party(directory: Directory, call: CallRequest) -> Party:
    """Who is calling, as the records name them. A desk phone is its line (the PJSIP endpoint);
    the caller ID a phone or the trunk sends is only a claim, so an outside caller whose caller
    ID equals an extension is not that employee, and an unknown endpoint is nobody."""
    if call.direction == "internal" and call.line and directory.lookup(call.line) is not None:
        return directory.party(call.line)
    return Party(number=call.caller)


def decide_call(
    directory: Directory,
    call: CallRequest,
    *,
    no_answer_timeout_s: int,
    outbound: OutboundPolicy | None = None,
    inbound: InboundPolicy | None = None,
    answering: AnsweringPolicy | None = None,
) -> Decision:
    """Decide what happens to `call`.

    `call.dialed` is untrusted data from the phone or the trunk: a known extension is routed,
    a desk phone's outside number is classified by the number plan (`outbound`), anything else
    is refused as an unknown number, never interpreted.
    """
    if call.overloaded:
        return Refuse(reason="overloaded", cause=q850.CONGESTION)
    if call.malformed:
        # Characters no dial plan uses: never guess what was meant.
        return Refuse(reason="malformed_number", cause=q850.INVALID_NUMBER_FORMAT)
    if outbound is not None and call.direction == "internal":
        decision = outbound.decide(call)
        if decision is not None:
            return decision
    if inbound is not None and call.direction == "inbound":
        refusal = inbound.decide(call)
        if refusal is not None:
            return refusal
    if directory.lookup(call.dialed) is None:
        return Refuse(reason="unknown_extension", cause=q850.UNALLOCATED)
    if call.direction == "internal" and call.dialed == call.from_line:
        return Refuse(reason="dialled_self", cause=q850.USER_BUSY)
    route = Route(target=call.dialed, timeout_s=no_answer_timeout_s, reason="extension")
    return answering.plan(call, route) if answering is not None else route
