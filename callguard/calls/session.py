"""One call, one session: a short loop from typed events to the flow that owns each, to effects.

An event goes first to the open dialogue on the call's stack (a prompt, a question), and what
that does not consume drops to the phase's flows (`_route`). Flows return effects; the
executor carries them out, and what comes back (a failed action, a checked PIN) is handled
before the next event from Asterisk. Rules live in `policy/`, a call's facts in `Call`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime

import structlog

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.adoption import Adoption, resume
from callguard.calls.call import SETTING_UP, SNAPSHOT_ERRORS, Call, LegState, Phase, new_call
from callguard.calls.context import SessionContext
from callguard.calls.dial_bridges import dial_bridge_id
from callguard.calls.executor import Executor
from callguard.calls.flows import duration, ending, ringing, start, transfer
from callguard.calls.timers import Timers
from callguard.policy import CallRequest, calling_party
from callguard.records import CallRecord

log = structlog.get_logger("callguard.calls")

# With no event for this long, ask Asterisk how the channels are: a missed event
# must not keep a session (and its record) open forever.
RESYNC_AFTER_S = 60.0

CallState = Phase  # the name the manager, metrics and tests know


def dispatch(call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> list[fx.Effect]:
    """The top sub-flow gets the event; what it does not consume drops to the next, then to
    the phase's flows."""
    effects = _dispatch(call, ctx, event, now)
    return _leave_dial_bridge(call, ctx, event, effects) + effects


def _dispatch(call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> list[fx.Effect]:
    for sub_flow in reversed(list(call.stack)):
        effects = sub_flow.on(call, ctx, event, now)
        if effects is not None:
            return effects
    return _route(call, ctx, event, now)


def _leave_dial_bridge(
    call: Call, ctx: SessionContext, event: ev.Event, effects: list[fx.Effect]
) -> list[fx.Effect]:
    """A leg that answers leaves its dial bridge (calls/dial_bridges.py) before anything else,
    so its prompts deal with a channel in no bridge, not one that shares a holding bridge with
    other calls' ringing legs. When the call's bridge is the first thing it meets, Asterisk takes
    it out of the dial bridge as it adds it there: one request less for most calls (issue 12)."""
    if not (isinstance(event, ev.Dialled) and event.status == "ANSWER" and event.channel_id in call.legs):
        return []
    channel_id = event.channel_id
    for effect in effects:
        if isinstance(effect, fx.AddToBridge) and channel_id in effect.channel_ids:
            return []
        if getattr(effect, "channel_id", None) == channel_id:
            break  # a prompt, a recording, a hang-up: in no bridge first
    return [fx.RemoveFromBridge(dial_bridge_id(ctx.node, channel_id), (channel_id,))]


def _route(call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> list[fx.Effect]:  # noqa: C901
    if isinstance(event, ev.StasisStarted):
        leg = call.legs.get(event.channel_id)
        return ringing.dial(call, leg, now) if leg is not None else []
    if isinstance(event, ev.Dialled):
        leg = call.legs.get(event.channel_id)
        if leg is None or leg.state is LegState.gone:
            return []
        if leg is call.transfer:
            return transfer.on_dial(call, ctx, event, leg, now)
        return ringing.on_dial(call, ctx, event, leg, now)
    if isinstance(event, ev.HangupRequested):
        call.leaving.add(event.channel_id)
        if event.cause:
            call.causes.setdefault(event.channel_id, event.cause)
        return []
    if isinstance(event, ev.ChannelGone) or (
        isinstance(event, ev.StasisEnded) and event.channel_id == call.caller_channel
    ):
        return ending.on_gone(call, ctx, event, now)
    if isinstance(event, ev.DtmfReceived) and call.phase is Phase.talking:
        return transfer.on_talk_dtmf(call, ctx, event, now)
    if isinstance(event, ev.Resync):
        return ending.resync(call)
    if isinstance(event, ev.ResyncChecked):
        return ending.resynced(call, event, now)
    if isinstance(event, ev.TimerFired):
        return _on_timer(call, ctx, event.name, now)
    if isinstance(event, ev.ActionFailed):
        return _on_failed(call, ctx, event, now)
    return []


def _on_timer(call: Call, ctx: SessionContext, name: str, now: datetime) -> list[fx.Effect]:
    kind, _, leg_id = name.partition(":")
    leg = call.legs.get(leg_id)
    if kind == "ring_limit" and leg is not None:
        return ringing.on_ring_limit(call, ctx, leg, now)
    if kind == "offline" and leg is not None:
        return ringing.on_offline(leg)
    if name in (duration.WARNING, duration.LIMIT):
        return duration.on_timer(call, ctx, name, now)
    return []


def _on_failed(call: Call, ctx: SessionContext, failed: ev.ActionFailed, now: datetime) -> list[fx.Effect]:
    leg = call.legs.get(failed.subject)
    if failed.action == "create_leg" and leg is not None:
        return ringing.create_failed(call, ctx, leg, now)
    if failed.action == "dial" and leg is not None:
        return ringing.dial_failed(leg)
    if failed.action == "bridge":
        call.bridged = False
    elif failed.action == "ringback" and failed.subject == call.call_id + "-ringback":
        call.ringback_playing = False
    return []


class CallSession:
    def __init__(
        self,
        ctx: SessionContext,
        caller: ev.Channel,
        request: CallRequest,
        adoption: Adoption | None = None,
    ) -> None:
        self.ctx = ctx
        started_at = caller.created_at or datetime.now(UTC)
        record = CallRecord(
            call_id=caller.id,
            node=ctx.node,
            direction=request.direction,
            dialed=request.dialed,
            caller=calling_party(ctx.directory, request),
            line=request.line if request.direction == "internal" else None,
            started_at=started_at,
            readopted=adoption is not None,
        )
        self.call = new_call(caller.id, request, record, started_at)
        if adoption is not None and adoption.facts is not None:
            try:
                self.call = Call.restore(request, adoption.facts)  # the facts kept in Asterisk
            except SNAPSHOT_ERRORS as exc:
                # Facts of another shape: re-adopt from the ids in Asterisk alone.
                log.warning("call.facts_refused", channel=caller.id, error=repr(exc))
                adoption = replace(adoption, facts=None)
        self.queue: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._last_event = 0.0  # loop time of the last event taken (the idle watch reads it)
        self._idle_watch: asyncio.TimerHandle | None = None
        self._adoption = adoption
        self._timers = Timers(self.queue.put_nowait)  # the queue's method: no cycle to the session
        self._executor = Executor(ctx, caller.id, self._timers.start, self._register)

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def caller_channel(self) -> str:
        return self.call.caller_channel

    @property
    def record(self) -> CallRecord:
        return self.call.record

    @property
    def state(self) -> Phase:
        return self.call.phase

    @property
    def channels(self) -> set[str]:
        return self.call.channels

    @property
    def in_setup(self) -> bool:
        """Not yet ringing: the calls an overloaded PBX has not caught up with."""
        return self.call.phase in SETTING_UP

    def enqueue(self, event: ev.Event) -> None:
        self.queue.put_nowait(event)

    def _watch_idle(self) -> None:
        """One timer for the session's life, not one per event (issue 12): with no event for
        RESYNC_AFTER_S, a Resync asks Asterisk how the call's channels are."""
        loop = asyncio.get_running_loop()
        idle_s = loop.time() - self._last_event
        if idle_s >= RESYNC_AFTER_S and self.queue.empty():
            self.enqueue(ev.Resync())
            idle_s = 0.0
        self._idle_watch = loop.call_later(max(RESYNC_AFTER_S - idle_s, 0.1), self._watch_idle)

    def _register(self, channel_id: str) -> None:
        self.call.channels.add(channel_id)
        self.ctx.register_channel(channel_id, self)

    async def run(self) -> None:
        call = self.call
        with structlog.contextvars.bound_contextvars(call_id=self.call_id):
            try:
                now = datetime.now(UTC)
                if self._adoption is not None:
                    first = resume(call, self.ctx, self._adoption, now)
                    for channel_id in sorted(call.channels):
                        self._register(channel_id)
                else:
                    first = start.start(call, self.ctx, now)
                await self._carry_out(first)
                loop = asyncio.get_running_loop()
                self._last_event = loop.time()
                self._watch_idle()
                while call.phase is not Phase.done:
                    event = await self.queue.get()
                    self._last_event = loop.time()
                    await self._carry_out(dispatch(call, self.ctx, event, datetime.now(UTC)))
            except Exception as exc:  # a bug must not leave a call unattended or unrecorded
                log.exception("call.session_crashed", error=repr(exc))
                await self._carry_out(ending.abandon_after_crash(call, repr(exc), datetime.now(UTC)))
            finally:
                if self._idle_watch is not None:
                    self._idle_watch.cancel()
                    self._idle_watch = None
                self._timers.cancel_all()
                # The executor holds a method of this session, the idle watch held another: cycles
                # that only the garbage collector could free, by when the call's objects had aged
                # into the generation every full collection walks (issue 12). Broken, the call is
                # freed the moment it ends.
                self._executor.close()
                if self.ctx.guard is not None:
                    self.ctx.guard.release(self.call_id)
                self.ctx.forget(self)

    async def _carry_out(self, effects: list[fx.Effect]) -> None:
        """Run effects; what they report back is handled at once, before the next ARI event."""
        results = deque(await self._executor.run(effects))
        while results:
            more = dispatch(self.call, self.ctx, results.popleft(), datetime.now(UTC))
            results.extendleft(reversed(await self._executor.run(more)))
