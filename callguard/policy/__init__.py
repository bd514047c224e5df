"""The pure decision core: who is who, and where a call goes. No I/O, no clock reads."""

from callguard.policy.answering import AnsweringPolicy
from callguard.policy.decisions import (
    BlockEntry,
    CallRequest,
    Decision,
    DialOut,
    DurationPolicy,
    Hop,
    Refuse,
    Route,
    TransferPlan,
    TransferRefusal,
    Violation,
)
from callguard.policy.directory import Directory, Party
from callguard.policy.inbound import Blocklist, InboundPolicy, RepeatCallers
from callguard.policy.numbers import Numbering, NumberPlan
from callguard.policy.outbound import OutboundPolicy
from callguard.policy.pins import PinBook, PinError, PinGuard, PinLockout, hash_pin, verify_pin
from callguard.policy.routing import calling_party, decide_call
from callguard.policy.toll import TollFraudGuard

__all__ = [
    "AnsweringPolicy",
    "Hop",
    "BlockEntry",
    "Blocklist",
    "CallRequest",
    "Decision",
    "DialOut",
    "Directory",
    "InboundPolicy",
    "DurationPolicy",
    "NumberPlan",
    "Numbering",
    "OutboundPolicy",
    "Party",
    "PinBook",
    "PinError",
    "PinGuard",
    "PinLockout",
    "Refuse",
    "RepeatCallers",
    "Route",
    "TransferPlan",
    "TransferRefusal",
    "TollFraudGuard",
    "Violation",
    "calling_party",
    "decide_call",
    "hash_pin",
    "verify_pin",
]
