"""Who is calling is the line (the PJSIP endpoint), never the caller ID a phone or the trunk
claims: class of service fails closed (OUT-2) and records name the line (LOG-1)."""

from __future__ import annotations

from pathlib import Path

from callguard.config import OutboundSettings, load_config
from callguard.policy import (
    CallRequest,
    DialOut,
    Directory,
    OutboundPolicy,
    Refuse,
    calling_party,
    decide_call,
)

PROJECT = Path(__file__).resolve().parents[2]
DIRECTORY = Directory(
    load_config(
        PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
    ).directory
)
DIRECTOR = "1001"  # 王丽, class international
NATIONAL = "001012345678"


def decide(request: CallRequest) -> object:
    outbound = OutboundPolicy(DIRECTORY, OutboundSettings())
    return decide_call(DIRECTORY, request, no_answer_timeout_s=30, outbound=outbound)


def test_the_directors_line_may_call_long_distance() -> None:
    decision = decide(CallRequest(DIRECTOR, NATIONAL, line=DIRECTOR))
    assert isinstance(decision, DialOut) and decision.number_class == "national"


def test_an_unknown_endpoint_claiming_the_directors_caller_id_is_refused() -> None:
    """A Local channel (e.g. from a SIP REFER) or an empty endpoint argument: no line, so class
    internal whatever caller ID it carries, and no PIN is offered."""
    for line in (None, "", "pstn", "benchplain"):
        decision = decide(CallRequest(DIRECTOR, NATIONAL, line=line))
        assert isinstance(decision, Refuse), line
        assert (decision.reason, decision.rule, decision.cause) == ("unknown_line", "OUT-2", 21)
        assert decision.violation is not None
        assert decision.violation.person is None and decision.violation.severity == "alert"


def test_an_unknown_endpoint_still_reaches_emergency_numbers_and_colleagues() -> None:
    emergency = decide(CallRequest(DIRECTOR, "0110", line=None))
    assert isinstance(emergency, DialOut) and emergency.emergency  # OUT-6: always
    colleague = decide(CallRequest(DIRECTOR, "2003", line=None))
    assert not isinstance(colleague, Refuse)


def test_records_name_the_line_not_the_claimed_caller_id() -> None:
    phone = calling_party(DIRECTORY, CallRequest("9999", "2003", line=DIRECTOR))
    assert (phone.number, phone.person, phone.internal) == (DIRECTOR, "wang.li", True)
    # An outside caller whose caller ID equals an extension is not that employee.
    outside = calling_party(DIRECTORY, CallRequest(DIRECTOR, "2003", direction="inbound"))
    assert (outside.number, outside.person, outside.name, outside.internal) == (DIRECTOR, None, None, False)
    nobody = calling_party(DIRECTORY, CallRequest(DIRECTOR, "2003", line=None))
    assert nobody.person is None and not nobody.internal
