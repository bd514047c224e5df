"""Small steps several flows share: noting a violation, hanging up, the provisional record."""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls.call import Call
from callguard.policy import Violation


def add_violation(call: Call, violation: Violation, now: datetime) -> list[fx.Effect]:
    """A rule broken on the call (built by policy/): on the record at once, and announced."""
    call.record.violations.append({**violation.as_dict(), "at": now.isoformat()})
    return [fx.Emit("call.violation", violation.as_dict())]


def provisional(call: Call) -> fx.Submit:
    """LOG-1: the call as it stands, so that it leaves a record even if callguard dies."""
    return fx.Submit(call.record.provisional())


def persist(call: Call) -> list[fx.Effect]:
    """Keep the call's facts in Asterisk at a real step (not on every event), and its record
    as it stands (LOG-1: a call that ends while no callguard runs keeps on record the rules it
    broke, the phones it rang and who authorised it). A call whose facts a restart can rebuild
    from the ids in Asterisk (one hop, nothing authorised, no rule broken, no dialogue under
    way) costs no request and no write until it has more to keep."""
    if not (call.persisted or call.worth_keeping()):
        return []
    call.persisted = True
    return [provisional(call), fx.Persist(call.caller_channel, call.snapshot())]
