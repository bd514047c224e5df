"""The pure decision core: who is who, and where a call goes. No I/O, no clock reads."""

from callguard.policy.decisions import (
    CallRequest,
    Decision,
    DialOut,
    DurationPolicy,
    Refuse,
    Route,
    Violation,
)
from callguard.policy.directory import Directory, Party
from callguard.policy.numbers import NumberPlan
from callguard.policy.outbound import OutboundPolicy, PinBook, TollFraudGuard, hash_pin
from callguard.policy.routing import decide_call

__all__ = [
    "CallRequest",
    "Decision",
    "DialOut",
    "Directory",
    "DurationPolicy",
    "NumberPlan",
    "OutboundPolicy",
    "Party",
    "PinBook",
    "Refuse",
    "Route",
    "TollFraudGuard",
    "Violation",
    "decide_call",
    "hash_pin",
]
