"""Talking to the caller: prompts, barge-in and DTMF questions as sub-flows on the call's stack.

A sub-flow is pushed when callguard starts talking and popped when it is done; the session
gives every event to the top sub-flow first, and what it does not consume drops to the flows
below at once (a leg's ring limit during a prompt is handled there and then). When a sub-flow
ends it runs its continuation, which returns the next effects (often the next sub-flow).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import Call
from callguard.calls.context import SessionContext
from callguard.calls.flows.common import persist

# A prompt that never reports its end must not hold the call.
PROMPT_MAX_S = 60.0

Effects = list[fx.Effect]
Then = Callable[[Call, SessionContext, datetime], Effects]
ThenDigits = Callable[[Call, SessionContext, datetime, str], Effects]


class SubFlow:
    """One open piece of dialogue. `on` returns None for an event it does not consume."""

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        raise NotImplementedError

    def close(self, call: Call) -> None:
        if self in call.stack:
            call.stack.remove(self)


class Prompt(SubFlow):
    """A prompt to the caller, waited for. With `barge_in` a digit stops it (and is kept for the
    question that follows); digits typed meanwhile are kept in `call.dtmf` either way."""

    def __init__(self, playback_id: str, barge_in: bool, then: Then) -> None:
        self.playback_id = playback_id
        self.barge_in = barge_in
        self.then = then
        self.stopping = False

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        if self._ended(event):
            self.close(call)
            return self.then(call, ctx, now)
        if isinstance(event, ev.DtmfReceived) and event.channel_id == call.caller_channel:
            call.dtmf.append(event.digit)
            if self.barge_in and not self.stopping:
                self.stopping = True
                return [fx.StopPlayback(self.playback_id)]
            return []
        return None

    def _ended(self, event: ev.Event) -> bool:
        if isinstance(event, ev.PlaybackDone):
            return event.playback_id == self.playback_id
        if isinstance(event, ev.ActionFailed):  # it never started
            return event.action == "play" and event.subject == self.playback_id
        return isinstance(event, ev.TimerFired) and event.name == f"prompt:{self.playback_id}"


def play(
    call: Call,
    ctx: SessionContext,
    now: datetime,
    prompt: str,
    then: Then,
    barge_in: bool = False,
    step: dict[str, Any] | None = None,
) -> Effects:
    """Play `prompt` to the caller, then continue with `then`. A barge-in prompt is skipped
    when digits were typed ahead of it. With `step`, the call's facts say which dialogue step
    this prompt is (kept in Asterisk, so that a restart resumes it instead of repeating it)."""
    if barge_in and call.dtmf:
        return then(call, ctx, now)
    playback_id = call.next_playback_id()
    call.stack.append(Prompt(playback_id, barge_in, then))
    call.record.prompts.append(prompt)
    out: Effects = [
        fx.Play(call.caller_channel, prompt, playback_id),
        fx.Emit("call.prompt", {"prompt": prompt, "playback_id": playback_id}),
        fx.StartTimer(f"prompt:{playback_id}", PROMPT_MAX_S),
    ]
    if step is not None:
        call.step = {**step, "playback": playback_id}
        out += persist(call)
    return out


def resume_prompt(call: Call, playback_id: str, then: Then, barge_in: bool = False) -> Effects:
    """After a restart: wait for a prompt the previous process started (Asterisk kept playing
    it); if it already ended, Asterisk says so and the dialogue goes on at once."""
    call.stack.append(Prompt(playback_id, barge_in, then))
    return [fx.CheckPlayback(playback_id), fx.StartTimer(f"prompt:{playback_id}", PROMPT_MAX_S)]


def play_to(call: Call, channel_id: str, prompt: str) -> tuple[str, Effects]:
    """Start a prompt to one side of a call without waiting for it: its playback id and effects."""
    playback_id = call.next_playback_id()
    if channel_id == call.caller_channel:
        call.record.prompts.append(prompt)
    return playback_id, [
        fx.Play(channel_id, prompt, playback_id),
        fx.Emit("call.prompt", {"prompt": prompt, "playback_id": playback_id, "to": channel_id}),
    ]


class WaitPlaybacks(SubFlow):
    """Wait for prompts played to both sides (keys typed meanwhile are not questions). Someone
    leaving ends the wait: the continuation runs, then the flows below hear who left."""

    def __init__(self, playback_ids: set[str], then: Then) -> None:
        self.pending = set(playback_ids)
        self.then = then
        self.timer = f"playbacks:{min(playback_ids, default='')}"

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        if isinstance(event, ev.PlaybackDone):
            self.pending.discard(event.playback_id)
        elif isinstance(event, ev.ActionFailed) and event.action == "play":
            self.pending.discard(event.subject)
        elif isinstance(event, ev.TimerFired) and event.name == self.timer:
            self.pending.clear()
        elif isinstance(event, ev.ChannelGone):
            self.close(call)
            call.leaving.add(event.channel_id)  # the continuation must know who it runs without
            return [*self.then(call, ctx, now), fx.Redeliver(event)]
        elif not isinstance(event, ev.DtmfReceived):
            return None
        if self.pending:
            return []
        self.close(call)
        return self.then(call, ctx, now)


def wait_playbacks(call: Call, ctx: SessionContext, now: datetime, ids: set[str], then: Then) -> Effects:
    if not ids:
        return then(call, ctx, now)
    waiting = WaitPlaybacks(ids, then)
    call.stack.append(waiting)
    return [fx.StartTimer(waiting.timer, PROMPT_MAX_S)]


class Collect(SubFlow):
    """Digits up to `#`, or `max_digits`, or a pause of `timeout_s` after the last one."""

    def __init__(self, max_digits: int, timeout_s: float, then: ThenDigits) -> None:
        self.max_digits = max_digits
        self.timeout_s = timeout_s
        self.then = then
        self.digits = ""
        self.waits = 0
        self.complete = False

    @property
    def timer(self) -> str:
        return f"digits:{id(self)}:{self.waits}"

    def _take(self, digit: str) -> None:
        if digit == "#":
            self.complete = True
            return
        self.digits += digit
        self.complete = len(self.digits) >= self.max_digits

    def start(self, call: Call, ctx: SessionContext, now: datetime) -> Effects:
        while call.dtmf and not self.complete:
            self._take(call.dtmf.pop(0))
        if self.complete:
            return self.then(call, ctx, now, self.digits)
        call.stack.append(self)
        return [fx.StartTimer(self.timer, self.timeout_s)]

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        if isinstance(event, ev.DtmfReceived) and event.channel_id == call.caller_channel:
            self._take(event.digit)
            if not self.complete:
                self.waits += 1  # the pause counts from the last digit
                return [fx.StartTimer(self.timer, self.timeout_s)]
        elif not (isinstance(event, ev.TimerFired) and event.name == self.timer):
            return None
        self.close(call)
        return self.then(call, ctx, now, self.digits)


def ask(
    call: Call,
    ctx: SessionContext,
    now: datetime,
    prompt: str,
    max_digits: int,
    timeout_s: float,
    then: ThenDigits,
    step: dict[str, Any] | None = None,
) -> Effects:
    """A DTMF question: the prompt (which a first digit stops), then the digits typed."""
    return play(call, ctx, now, prompt, collect(max_digits, timeout_s, then), barge_in=True, step=step)


def collect(max_digits: int, timeout_s: float, then: ThenDigits) -> Then:
    def start(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        return Collect(max_digits, timeout_s, then).start(call, ctx, now)

    return start


class Awaiting(SubFlow):
    """Wait for the one event an effect answers with (a PIN checked off the event loop)."""

    def __init__(self, kind: type[ev.PinChecked], then: Callable[..., Effects]) -> None:
        self.kind = kind
        self.then = then

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        if not isinstance(event, self.kind):
            return None
        self.close(call)
        return self.then(call, ctx, now, event)
