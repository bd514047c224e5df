"""Q.850 causes and what they mean for a call's record: the one table of both.

Asterisk reports why a channel ended as a Q.850 cause (ARI `ChannelDestroyed.cause`), why a
Dial() ended as a dial status (`Dial.dialstatus`, `${DIALSTATUS}`) and a CDR row as a CDR
disposition. callguard sends causes too: a refusal's cause becomes the caller's SIP response.
Every module reads them from here, so that "busy" is spelt and mapped once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

UNALLOCATED = 1  # SIP 404: no such extension or number
NO_ROUTE_DESTINATION = 3
NORMAL = 16  # normal clearing
USER_BUSY = 17  # SIP 486
NO_USER_RESPONSE = 18  # SIP 408
NO_ANSWER = 19  # SIP 480: a ring limit passed (ANS-1), or the office is closed (ANS-7)
SUBSCRIBER_ABSENT = 20  # the phone is not registered (ANS-3 offline skip)
CALL_REJECTED = 21  # SIP 403 (a refusal), or a phone's decline key (ANS-6)
ANSWERED_ELSEWHERE = 26  # another phone of the hop answered
DESTINATION_OUT_OF_ORDER = 27
INVALID_NUMBER_FORMAT = 28  # SIP 484
CONGESTION = 34  # SIP 503: overloaded, or Asterisk could not create a leg
NETWORK_OUT_OF_ORDER = 38

# How a callee leg that ended before answer explains the call.
_UNANSWERED: Mapping[int, str] = MappingProxyType(
    {
        USER_BUSY: "busy",
        CALL_REJECTED: "declined",
        NO_USER_RESPONSE: "no_answer",
        NO_ANSWER: "no_answer",
        NO_ROUTE_DESTINATION: "unavailable",
        SUBSCRIBER_ABSENT: "unavailable",
        DESTINATION_OUT_OF_ORDER: "unavailable",
        NETWORK_OUT_OF_ORDER: "unavailable",
    }
)

# ${DIALSTATUS} of a Dial() the dialplan ran alone (LOG-1, live UserEvents).
DIAL_STATUSES: Mapping[str, str] = MappingProxyType(
    {
        "ANSWER": "answered",
        "BUSY": "busy",
        "NOANSWER": "no_answer",
        "CANCEL": "abandoned",
        "CONGESTION": "unavailable",
        "CHANUNAVAIL": "unavailable",
    }
)

# The disposition column of Asterisk's CDR (LOG-1, `cdr import`).
CDR_DISPOSITIONS: Mapping[str, str] = MappingProxyType(
    {
        "ANSWERED": "answered",
        "NO ANSWER": "no_answer",
        "BUSY": "busy",
        "FAILED": "failed",
        "CONGESTION": "failed",
    }
)

# No Dial() at all: the fail-safe dialplan refused the call with this cause.
_REFUSALS: Mapping[int, str] = MappingProxyType(
    {UNALLOCATED: "unknown_extension", CALL_REJECTED: "refused", INVALID_NUMBER_FORMAT: "malformed_number"}
)


def unanswered(cause: int | None, default: str = "failed") -> str:
    """The disposition of a call whose callee leg ended with `cause` before anyone answered."""
    return _UNANSWERED.get(cause or 0, default)


def dial_status(status: str) -> str:
    """The disposition of a dialplan Dial() that ended with `status` (unknown ones lower-cased)."""
    return DIAL_STATUSES.get(status, status.lower())


def cdr_disposition(value: str) -> str:
    """The disposition of a CDR row (anything unknown is a failed call)."""
    return CDR_DISPOSITIONS.get(value.upper(), "failed")


def dialplan_refusal(cause: int | None) -> str:
    """Why the fail-safe dialplan refused a call it never dialled, from the cause it sent."""
    return _REFUSALS.get(cause or 0, "refused")
