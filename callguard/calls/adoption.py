"""Re-adoption: a call a previous callguard process handled continues where Asterisk says it is.

What Asterisk knows is the caller's channel, the legs named `<call>-leg<N>`, the bridge
`cg-<call>` (the answer's record) and, when the call got that far, the call's facts as a
snapshot (`persist.py`). With a snapshot the call resumes with its parties, hops, violations,
authorisation and matter code; without one the decision is taken again (it is pure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Container
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from callguard.ari.client import AriClient, AriError
from callguard.calls import effects as fx
from callguard.calls.call import (
    BRIDGE_PREFIX,
    LEG_MARK,
    Call,
    Leg,
    LegState,
    Phase,
    bridge_id_for,
    leg_number,
    usable,
)
from callguard.calls.context import SessionContext
from callguard.calls.effects import GlobalFacts
from callguard.calls.events import Channel, parse_time
from callguard.calls.flows import duration, ending, ringing, start
from callguard.calls.persist import load as load_facts
from callguard.calls.resume import from_facts
from callguard.policy import DialOut, Hop, Party, Route, q850
from callguard.records import LegRecord

log = structlog.get_logger("callguard.calls")

Effects = list[fx.Effect]


@dataclass(frozen=True)
class Adoption:
    """What Asterisk still knows about a call that a previous callguard process handled."""

    leg: Channel | None
    answered_at: datetime | None
    caller_up: bool
    facts: dict[str, Any] | None = None  # the call's snapshot, when one was kept
    legs: tuple[Channel, ...] = ()  # with facts: every leg of the call still in Asterisk


def resume(call: Call, ctx: SessionContext, adoption: Adoption, now: datetime) -> Effects:
    leg_state = adoption.leg.state if adoption.leg else None
    readopted = {"ext": call.record.caller.number, "dialed": call.record.dialed, "leg_state": leg_state}
    out: Effects = [fx.Emit("call.readopted", readopted)]
    call.record.decisions.append({"action": "readopt", "reason": "callguard restarted"})
    if adoption.facts is not None:
        return out + from_facts(call, ctx, adoption.legs, now)
    if adoption.leg is None and adoption.answered_at is None and not adoption.caller_up:
        # Never answered and no leg: route it (again; a leg that rang and ended while
        # callguard was away left no trace, so its callee may ring a second time).
        return out + start.start(call, ctx, now)
    callee = _decide_again(call, ctx)
    call.caller_answered = adoption.caller_up
    call.record.callee = callee
    call.bridged = adoption.answered_at is not None
    if adoption.leg is None:
        if adoption.answered_at is not None:
            call.record.answered_at = call.caller_leg.answered_at = adoption.answered_at
            call.record.disposition = "answered"
        # The callee's side ended while nobody watched: end the caller's side too.
        call.phase = Phase.ending
        return [*out, fx.Hangup(call.caller_channel, q850.NORMAL)]
    return out + _take_leg(call, ctx, adoption.leg, callee, adoption.answered_at, now) + ending.resync(call)


def _decide_again(call: Call, ctx: SessionContext) -> Party:
    """The decision is pure and the request unchanged: an outside call gets its class, its
    OUT-4 limits and its place in the SEC-3 counters back."""
    decision = start.decide(call, ctx)
    if isinstance(decision, DialOut):
        start.note_dial_out(call, decision)
        if ctx.guard is not None and not decision.emergency:
            ctx.guard.admit(call.call_id, call.request.from_line, ctx.monotonic())
        return Party(number=decision.number)
    if isinstance(decision, Route):
        call.message_for = decision.message_for
    return ctx.directory.party(call.record.dialed)


def _take_leg(
    call: Call,
    ctx: SessionContext,
    channel: Channel,
    callee: Party,
    answered_at: datetime | None,
    now: datetime,
) -> Effects:
    target = call.dial_out.number if call.dial_out else (channel.endpoint or callee.number)
    call.leg_seq = max(call.leg_seq, leg_number(channel.id))
    record = LegRecord(role="callee", channel_id=channel.id, number=target)
    call.record.legs.append(record)
    hop = Hop((target,), 0, 0.0, False, "readopted")  # its ring limit was the old process's
    call.hops, call.hop_index = (hop,), 0
    leg = Leg(channel.id, target, record, 0, hop)
    call.legs[leg.id] = leg
    call.talking_leg, call.callee_leg = leg.id, record
    call.channels.add(leg.id)
    call.alive.add(leg.id)
    if call.dial_out is None:
        call.record.callee = ctx.directory.party(target)
    if channel.state == "Up" and answered_at is not None:
        leg.state = LegState.up
        record.answered_at = call.record.answered_at = call.caller_leg.answered_at = answered_at
        call.record.disposition = "answered"
        call.phase = Phase.talking
        return duration.start_timers(call, answered_at, now)
    if channel.state == "Up":
        leg.state = LegState.ringing
        call.phase = Phase.ringing
        return ringing.connect(call, ctx, leg, now, now)  # answered while callguard was away
    ringing_now = channel.state == "Ringing"
    leg.state = LegState.ringing if ringing_now else LegState.dialing
    call.phase = Phase.ringing if ringing_now else Phase.dialing
    return []


# --- the restart sweep: which channels in Stasis are calls to take over, which are leftovers --

DIRECTIONS = ("internal", "inbound")  # a caller's Stasis(callguard, <direction>, ...)


async def strays(
    client: AriClient, in_app: list[str], known: Container[str]
) -> tuple[list[tuple[Channel, tuple[str, ...]]], dict[str, list[Channel]]]:
    """Channels in Stasis that no session knows: callers (by their Stasis arguments) and
    legs (by name, `<call>-leg<N>`, grouped by call)."""
    callers: list[tuple[Channel, tuple[str, ...]]] = []
    legs: dict[str, list[Channel]] = {}
    for channel_id in in_app:
        if channel_id in known:
            continue
        try:
            channel = Channel.parse(await client.get_channel(channel_id))
        except AriError:
            continue
        if channel.stasis_args and channel.stasis_args[0] in DIRECTIONS:
            callers.append((channel, channel.stasis_args))
        elif LEG_MARK in channel_id:
            legs.setdefault(channel_id.rsplit(LEG_MARK, 1)[0], []).append(channel)
    return callers, legs


async def adoption_of(client: AriClient, caller: Channel, candidates: list[Channel]) -> Adoption:
    """What Asterisk keeps of a caller's call: its bridge (the answer), its facts, its legs."""
    try:
        bridge: dict[str, Any] | None = await client.get_bridge(bridge_id_for(caller.id))
    except AriError:
        bridge = None
    facts = await load_facts(GlobalFacts(client), caller.id)
    if facts is not None and (why := usable(facts)) is not None:
        log.warning("call.facts_refused", channel=caller.id, error=why)  # the ids' way, then
        facts = None
    # The legs to adopt: with the call's facts, every leg they know (a hop ringing several
    # phones, a transfer target); without, the one in the call's bridge (answered), else
    # one still ringing, and the others of a ring-all hop are let go.
    in_bridge = set(bridge.get("channels", [])) if bridge else set()
    candidates.sort(key=lambda leg: (leg.id not in in_bridge, leg.id))
    known = {str(leg.get("id")) for leg in facts.get("legs", [])} if facts else set()
    kept = [leg for leg in candidates if leg.id in known] if facts else candidates[:1]
    for extra in candidates:
        if extra not in kept:
            log.info("call.orphan_leg_hungup", call_id=caller.id, channel=extra.id)
            await _quietly(client.hangup(extra.id))
    return Adoption(
        leg=kept[0] if kept else None,
        # callguard bridges a call when it is answered: the bridge is the answer's record.
        answered_at=parse_time(bridge.get("creationtime")) if bridge else None,
        caller_up=caller.state == "Up",
        facts=facts,
        legs=tuple(kept),
    )


async def clean_orphans(
    client: AriClient, app: dict[str, Any], legs: dict[str, list[Channel]], handled: Container[str]
) -> None:
    """A leg whose caller is gone has nobody to talk to; a bridge of a call nobody handles
    any more is a leak."""
    for call_id, orphans in legs.items():
        if call_id not in handled:
            for leg in orphans:
                log.info("call.orphan_leg_hungup", call_id=call_id, channel=leg.id)
                await _quietly(client.hangup(leg.id))
    orphan_bridges = {str(b) for b in app.get("bridge_ids", []) if str(b).startswith(BRIDGE_PREFIX)}
    orphan_bridges |= {bridge_id_for(call_id) for call_id in legs if call_id not in handled}
    for bridge_id in sorted(orphan_bridges):
        if bridge_id.removeprefix(BRIDGE_PREFIX) not in handled:
            log.info("call.orphan_bridge_destroyed", bridge=bridge_id)
            await _quietly(client.destroy_bridge(bridge_id))


async def forget_facts(client: AriClient, call_ids: list[str]) -> None:
    """The facts of calls that ended while no callguard watched: nobody else unsets a global
    variable, and Asterisk would keep each (~1 KB) until it restarts."""
    facts = GlobalFacts(client)
    for call_id in call_ids:
        await _quietly(facts.forget(call_id))
    if call_ids:
        log.info("calls.facts_forgotten", count=len(call_ids))


async def _quietly(request: Awaitable[None]) -> None:
    """Clean-up of things that may already be gone."""
    try:
        await request
    except AriError:
        pass
