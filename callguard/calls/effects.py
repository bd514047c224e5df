"""What a flow asks for, as data: the effects `executor.Executor` carries out.

An ARI action that fails comes back as an `ActionFailed` event; an effect's `on_ok` effects
run only when it succeeded. Effects name things as callguard does (a prompt, a target, the
ringback); `executor.py` spells them in ARI's vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from callguard.ari.client import AriActions
from callguard.calls import events as ev
from callguard.policy import BlockEntry
from callguard.records import CallRecord


@dataclass(frozen=True, slots=True)
class CreateLeg:
    """Ring `target` on a new channel `leg_id` (through `trunk` for an outside number)."""

    leg_id: str
    target: str
    trunk: str | None
    originator: str
    app_args: str
    variables: tuple[tuple[str, str], ...]
    on_ok: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class Dial:
    leg_id: str
    caller: str
    timeout_s: int
    on_ok: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class Ring:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Progress:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Answer:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Play:
    """A callguard prompt (`sound:callguard/<prompt>`) in the configured language."""

    channel_id: str
    prompt: str
    playback_id: str


@dataclass(frozen=True, slots=True)
class PlayRingback:
    """The ringback tone of the configured country (an answered caller hears it as audio)."""

    channel_id: str
    playback_id: str


@dataclass(frozen=True, slots=True)
class SayDigits:
    channel_id: str
    digits: str
    playback_id: str


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Record:
    channel_id: str
    name: str
    max_s: int


@dataclass(frozen=True, slots=True)
class Hangup:
    channel_id: str
    cause: int | None = None
    action: str = "hangup"  # the log's name for it (hangup_leg, cancel_leg, ...)


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge_id: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoveFromBridge:
    bridge_id: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class RecordBridge:
    """LOG-6: record both parties of the bridge as Asterisk's stored recording `name`."""

    bridge_id: str
    name: str
    format: str
    max_s: int
    on_ok: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckChannels:
    """A resync: ask Asterisk about each channel; the missing ones come back as ChannelGone."""

    channel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckPlayback:
    """After a restart: a prompt that already ended comes back as PlaybackDone."""

    playback_id: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    after_s: float


@dataclass(frozen=True, slots=True)
class Emit:
    """An MQTT/log event about the call (`call_id` is added)."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Submit:
    """Hand a record (provisional or final) to the writer."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class Charge:
    """LOG-4: a priced call counts against its budget at once."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class Block:
    """SEC-1: store an automatic block."""

    entry: BlockEntry


@dataclass(frozen=True, slots=True)
class CheckPin:
    """OUT-3: whose PIN this is (argon2: slow on purpose, so off the event loop)."""

    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Persist:
    """Keep the call's facts in Asterisk (a channel variable on the caller's channel)."""

    channel_id: str
    facts: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ForgetFacts:
    """The call is over: its facts leave Asterisk."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Hand an event a sub-flow held back to the flows below it (the session does this)."""

    event: ev.Event


Effect = (
    CreateLeg
    | Dial
    | Ring
    | Progress
    | Answer
    | Play
    | PlayRingback
    | SayDigits
    | StopPlayback
    | Record
    | Hangup
    | CreateBridge
    | AddToBridge
    | RemoveFromBridge
    | DestroyBridge
    | RecordBridge
    | CheckChannels
    | CheckPlayback
    | StartTimer
    | Emit
    | Submit
    | Charge
    | Block
    | CheckPin
    | Persist
    | ForgetFacts
    | Redeliver
)


class GlobalFacts:
    """A call's facts kept in a global variable named after its caller's channel
    (CG_CALL_<channel>), as wazo-calld keeps its calls: a channel's own variables are set by
    its Stasis control queue, which waits for the prompt the channel is playing to end."""

    def __init__(self, ari: AriActions) -> None:
        self._ari = ari

    @staticmethod
    def name(channel_id: str, variable: str = "CG_CALL") -> str:
        return variable + "_" + re.sub(r"[^A-Za-z0-9]", "_", channel_id)

    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None:
        await self._ari.set_global_var(self.name(channel_id, name), value)

    async def get_channel_var(self, channel_id: str, name: str) -> str | None:
        return await self._ari.get_global_var(self.name(channel_id, name))

    async def forget(self, channel_id: str) -> None:
        await self._ari.set_global_var(self.name(channel_id), None)
