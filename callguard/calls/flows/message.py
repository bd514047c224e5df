"""XFER-3: nobody answered, so the caller may leave a message after the tone (# ends it)."""

from __future__ import annotations

from datetime import datetime

from callguard.calls import effects as fx
from callguard.calls import events as ev
from callguard.calls.call import Call, Phase
from callguard.calls.context import SessionContext
from callguard.calls.flows.common import persist
from callguard.calls.flows.dialogue import SubFlow, Then, play
from callguard.policy import q850

# After the caller hangs up, Asterisk still reports the recording's end (it keeps what was said).
RECORDING_END_WAIT_S = 3.0
RECORDING_SLACK_S = 10  # beyond message_max_s, in case Asterisk never reports the end

Effects = list[fx.Effect]


def recording_name(call: Call) -> str:
    return f"callguard-message-{call.call_id}"


def take_message(call: Call, ctx: SessionContext, now: datetime, for_ext: str) -> Effects:
    call.phase = Phase.authorizing
    out: Effects = []
    if not call.caller_answered:
        out.append(fx.Answer(call.caller_channel))
        call.caller_answered = True
    if call.bridged:  # alone in the bridge after a failed transfer: Asterisk records no bridged channel
        out.append(fx.RemoveFromBridge(call.bridge_id, (call.caller_channel,)))

    step = {"at": "message_prompt", "for": for_ext}
    return out + play(call, ctx, now, "target_unavailable", record_for(for_ext), step=step)


def record_for(for_ext: str) -> Then:
    """After the prompt: record what the caller says (also where a restart resumes the prompt)."""

    def record(call: Call, ctx: SessionContext, now: datetime) -> Effects:
        assert ctx.answering is not None
        max_s = ctx.answering.settings.message_max_s
        call.record.disposition = "no_message"
        call.step = {"at": "message", "for": for_ext, "left_at": now.isoformat()}
        return [fx.Record(call.caller_channel, recording_name(call), max_s), *listen(call, ctx, for_ext, now)]

    return record


def listen(call: Call, ctx: SessionContext, for_ext: str, left_at: datetime) -> Effects:
    """Wait for the message's end (also after a restart, while Asterisk records on)."""
    assert ctx.answering is not None
    recording = Recording(for_ext, left_at)
    call.stack.append(recording)
    max_s = ctx.answering.settings.message_max_s
    return [fx.StartTimer(recording.timer, max_s + RECORDING_SLACK_S), *persist(call)]


class Recording(SubFlow):
    """The message being recorded. The caller hanging up ends it too: the recording's end is
    awaited briefly, then the flows below hear that the caller left."""

    def __init__(self, for_ext: str, left_at: datetime) -> None:
        self.for_ext = for_ext
        self.left_at = left_at
        self.timer = "message_end"
        self.gone: ev.Event | None = None

    def on(self, call: Call, ctx: SessionContext, event: ev.Event, now: datetime) -> Effects | None:
        if isinstance(event, ev.RecordingEnded):
            return self._ended(call, ctx, now, event)
        if isinstance(event, ev.ActionFailed) and event.action == "record":
            return self._ended(call, ctx, now, None)
        if isinstance(event, ev.TimerFired) and event.name == self.timer:
            return self._ended(call, ctx, now, None)
        caller_left = (
            isinstance(event, ev.StasisEnded | ev.ChannelGone) and event.channel_id == call.caller_channel
        )
        if caller_left and self.gone is None:
            self.gone = event
            self.timer = "message_end_after_hangup"
            return [fx.StartTimer(self.timer, RECORDING_END_WAIT_S)]
        if isinstance(event, ev.HangupRequested) or not caller_left:
            return None
        return []

    def _ended(
        self, call: Call, ctx: SessionContext, now: datetime, finished: ev.RecordingEnded | None
    ) -> Effects:
        self.close(call)
        call.step = None
        out: Effects = []
        if finished is not None and finished.ok and (finished.duration_s or 0) > 0:
            out += _message_left(call, ctx, self.for_ext, self.left_at, finished.duration_s)
        if self.gone is not None:
            return [*out, fx.Redeliver(self.gone)]
        if call.record.disposition == "message":
            return out + play(call, ctx, now, "message_saved", end_message_call)
        return out + end_message_call(call, ctx, now)


def _message_left(
    call: Call, ctx: SessionContext, for_ext: str, left_at: datetime, duration: int | float | None
) -> Effects:
    party = ctx.directory.party(for_ext)
    wav = f"{recording_name(call)}.wav"
    record = call.record
    record.message = {
        "for_ext": for_ext,
        "for_person": party.person,
        "caller_number": record.caller.number,
        "caller_name": record.caller.name,
        "left_at": left_at.isoformat(),
        "duration_s": duration,
        "recording": wav,
    }
    record.disposition = "message"
    # topic <prefix>/<node>/message/left: whoever relays messages listens
    left = {
        "ext": for_ext,
        "person": party.person,
        "caller": record.caller.number,
        "duration_s": duration,
        "recording": wav,
        "rule": "XFER-3",
    }
    return [fx.Emit("message.left", left)]


def end_message_call(call: Call, ctx: SessionContext, now: datetime) -> Effects:
    call.record.hangup_by, call.record.hangup_cause = "callguard", q850.NORMAL
    call.phase = Phase.ending
    return [fx.Hangup(call.caller_channel, q850.NORMAL)]
