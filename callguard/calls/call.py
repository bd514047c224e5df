"""A call's facts: its parties and legs, the phase it is in, and where its ring plan stands.

Flows read and update a `Call`; they hold no state of their own beyond the sub-flows on
`call.stack` (a prompt playing, digits being collected). `snapshot()` is everything a new
callguard process needs to continue the call where it was (kept in Asterisk, `persist.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from callguard.policy import CallRequest, DialOut, Hop
from callguard.records import CallRecord, LegRecord, from_json, to_json

if TYPE_CHECKING:
    from callguard.calls.flows.dialogue import SubFlow

# Leg channel ids derive from the call id (`<call>-leg<N>`) and the bridge is `cg-<call>`,
# so that a restarted callguard finds a call's parts in Asterisk by name.
LEG_MARK = "-leg"
BRIDGE_PREFIX = "cg-"
SNAPSHOT_VERSION = 1


class Phase(StrEnum):
    new = "new"
    announcing = "announcing"  # a refusal prompt plays before the hangup
    authorizing = "authorizing"  # greeting, PIN / matter code (OUT-3), reminder (OUT-7), message
    creating = "creating"
    dialing = "dialing"
    ringing = "ringing"
    talking = "talking"
    ending = "ending"
    done = "done"


SETTING_UP = (Phase.new, Phase.creating, Phase.dialing)  # what an overloaded PBX has not caught up with
RINGING = (Phase.creating, Phase.dialing, Phase.ringing)


class LegState(StrEnum):
    creating = "creating"
    dialing = "dialing"
    ringing = "ringing"
    up = "up"
    cancelled = "cancelled"
    offline = "offline"
    gone = "gone"


PENDING = (LegState.creating, LegState.dialing, LegState.ringing)  # not yet answered or ended


def leg_channel_id(call_id: str, n: int = 1) -> str:
    return f"{call_id}{LEG_MARK}{n}"


def leg_number(leg_id: str) -> int:
    tail = leg_id.rsplit(LEG_MARK, 1)[-1]
    return int(tail) if tail.isdigit() else 1


def bridge_id_for(call_id: str) -> str:
    return BRIDGE_PREFIX + call_id


@dataclass
class Leg:
    """One phone callguard rings for a call."""

    id: str
    target: str
    record: LegRecord
    hop_index: int
    hop: Hop
    state: LegState = LegState.creating
    late: bool = False  # still ringing past its ANS-1 limit
    idle_before: bool = False  # the phone was idle before it rang (ANS-6)


@dataclass
class Call:
    request: CallRequest
    record: CallRecord
    caller_leg: LegRecord
    phase: Phase = Phase.new
    legs: dict[str, Leg] = field(default_factory=dict)
    leg_seq: int = 0
    hops: tuple[Hop, ...] = ()
    hop_index: int = -1
    leg_timeout_s: int = 0
    last_cause: int | None = None  # the last callee cause: what the caller hears if nobody answers
    message_for: str | None = None  # XFER-3: whose message the caller may leave
    greeting_on_answer: str | None = None
    dial_out: DialOut | None = None
    caller_answered: bool = False
    ringback_playing: bool = False
    bridged: bool = False
    # The two channels talking are `kept` and `talking_leg`; a transfer replaces the one who
    # typed the code (`holder`) by the target. `kept` starts as the caller's channel.
    talking_leg: str = ""
    kept: str = ""
    transfer: Leg | None = None
    holder: str | None = None
    callee_leg: LegRecord | None = None
    playbacks: int = 0
    alive: set[str] = field(default_factory=set)
    causes: dict[str, int] = field(default_factory=dict)  # from hangup requests, per channel
    # Channels asked to hang up (ChannelHangupRequest) or gone: a continuation that needs one of
    # them (a transfer target being briefed) must not act on it. Asterisk finishes the channel's
    # playbacks (as failed) before it reports the channel destroyed.
    leaving: set[str] = field(default_factory=set)
    feature: dict[str, str] = field(default_factory=dict)  # transfer-code keys typed, per channel
    dtmf: list[str] = field(default_factory=list)  # digits typed ahead of the question
    channels: set[str] = field(default_factory=set)  # every channel routed to this call
    stack: list[SubFlow] = field(default_factory=list)  # open dialogue, top last
    # The dialogue step under way, as a restart resumes it: {"at": "greeting" | "pin" | "matter"
    # | "reminder" | "message", "playback": the prompt playing, ...}; None between steps.
    step: dict[str, Any] | None = None
    persisted: bool = False  # a snapshot was kept: every later step keeps one too

    def worth_keeping(self) -> bool:
        """Facts a restart could not rebuild by deciding again from the ids in Asterisk."""
        record = self.record
        return bool(
            len(self.hops) > 1
            or self.step is not None
            or self.transfer is not None
            or record.authorized_by
            or record.matter
            or record.violations
            or record.transfers
        )

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def caller_channel(self) -> str:
        """The caller's channel id (also the call id)."""
        return self.caller_leg.channel_id

    @property
    def bridge_id(self) -> str:
        return bridge_id_for(self.call_id)

    def next_playback_id(self) -> str:
        self.playbacks += 1
        return f"{self.call_id}-play{self.playbacks}"

    def hop_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.hop_index == self.hop_index]

    def number_of(self, channel_id: str) -> str:
        leg = self.legs.get(channel_id)
        return leg.target if leg is not None else self.record.caller.number

    def other(self, channel_id: str) -> str:
        """The other of the two channels talking."""
        return self.talking_leg if channel_id == self.kept else self.kept

    # --- the facts kept in Asterisk -------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe facts of the call (the record carries parties, violations, authorisation,
        matter, prompts heard as decisions; the rest is where the ring plan and talk stand)."""
        return {
            "v": SNAPSHOT_VERSION,
            "phase": str(self.phase),
            "record": to_json(self.record),
            "hops": [{**asdict(hop), "targets": list(hop.targets)} for hop in self.hops],
            "hop_index": self.hop_index,
            "leg_seq": self.leg_seq,
            "leg_timeout_s": self.leg_timeout_s,
            "legs": [_leg_facts(leg) for leg in self.legs.values()],
            "last_cause": self.last_cause,
            "message_for": self.message_for,
            "greeting_on_answer": self.greeting_on_answer,
            "caller_answered": self.caller_answered,
            "bridged": self.bridged,
            "talking_leg": self.talking_leg,
            "kept": self.kept,
            "transfer": self.transfer.id if self.transfer else None,
            "holder": self.holder,
            "playbacks": self.playbacks,
            "step": self.step,
        }

    @classmethod
    def restore(cls, request: CallRequest, facts: dict[str, Any]) -> Call:
        """The call a snapshot describes (the caller's leg record is the record's first)."""
        record = from_json(facts["record"])
        caller_leg = next(leg for leg in record.legs if leg.role == "caller")
        call = cls(request=request, record=record, caller_leg=caller_leg, phase=Phase(facts["phase"]))
        call.hops = tuple(_hop(h) for h in facts.get("hops", []))
        call.hop_index, call.leg_seq = int(facts["hop_index"]), int(facts["leg_seq"])
        call.leg_timeout_s, call.last_cause = int(facts["leg_timeout_s"]), facts.get("last_cause")
        call.message_for, call.greeting_on_answer = facts.get("message_for"), facts.get("greeting_on_answer")
        call.caller_answered, call.bridged = bool(facts["caller_answered"]), bool(facts["bridged"])
        call.talking_leg, call.kept = str(facts["talking_leg"]), str(facts["kept"])
        call.holder, call.playbacks = facts.get("holder"), int(facts.get("playbacks", 0))
        call.step, call.persisted = facts.get("step"), True
        by_channel = {leg.channel_id: leg for leg in record.legs if leg.role == "callee"}
        for data in facts.get("legs", []):
            hop = call.hops[data["hop_index"]] if data["hop_index"] < len(call.hops) else _hop(data["hop"])
            leg = Leg(data["id"], data["target"], by_channel[data["id"]], data["hop_index"], hop)
            leg.state, leg.late, leg.idle_before = LegState(data["state"]), data["late"], data["idle_before"]
            call.legs[leg.id] = leg
        call.transfer = call.legs.get(facts["transfer"]) if facts.get("transfer") else None
        call.callee_leg = by_channel.get(call.talking_leg) or next(iter(by_channel.values()), None)
        return call


SNAPSHOT_ERRORS = (KeyError, IndexError, TypeError, ValueError, StopIteration, AttributeError)


def usable(facts: dict[str, Any]) -> str | None:
    """Why a snapshot cannot be restored (one line), or None when it can."""
    try:
        Call.restore(CallRequest(caller="", dialed=""), facts)
    except SNAPSHOT_ERRORS as exc:
        return f"CG_CALL: unusable snapshot: {exc!r}"
    return None


def _leg_facts(leg: Leg) -> dict[str, Any]:
    return {
        "id": leg.id,
        "target": leg.target,
        "hop_index": leg.hop_index,
        "hop": {**asdict(leg.hop), "targets": list(leg.hop.targets)},
        "state": str(leg.state),
        "late": leg.late,
        "idle_before": leg.idle_before,
    }


def _hop(data: dict[str, Any]) -> Hop:
    return Hop(**{**data, "targets": tuple(data["targets"])})


def new_call(caller: str, request: CallRequest, record: CallRecord, started_at: datetime) -> Call:
    """A call as it arrives: only the caller's leg exists."""
    caller_leg = LegRecord(role="caller", channel_id=caller, number=request.caller, started_at=started_at)
    record.legs.append(caller_leg)
    return Call(
        request=request,
        record=record,
        caller_leg=caller_leg,
        talking_leg=leg_channel_id(caller),
        kept=caller,
        alive={caller},
        channels={caller},
    )
