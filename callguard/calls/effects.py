"""What a flow asks for, as data, and the one executor that carries it out over ARI.

Flows return effects; `Executor.run` performs them in order. An ARI action that fails comes
back as an `ActionFailed` event (a channel already gone is an ordinary outcome); an effect's
`on_ok` effects run only when it succeeded. This module is also the one place that spells
ARI's vocabulary: endpoints (`PJSIP/<ext>`, `PJSIP/<number>@<trunk>`), prompts
(`sound:callguard/<name>`), the ringback tone of the configured country and spoken digits.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from callguard.ari.client import AriActions, AriError, AriGone
from callguard.calls import events as ev
from callguard.calls.context import SessionContext
from callguard.policy import BlockEntry
from callguard.records import CallRecord

log = structlog.get_logger("callguard.calls")


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


def endpoint(target: str, trunk: str | None) -> str:
    return f"PJSIP/{target}@{trunk}" if trunk else f"PJSIP/{target}"


def sound(prompt: str) -> str:
    return f"sound:callguard/{prompt}"


def ringback_tone(language: str) -> str:
    """Asterisk's ringback in the country of the configured language (zh_CN → tonezone=cn)."""
    country = language.partition("_")[2].lower()
    return f"tone:ring;tonezone={country}" if country else "tone:ring"


def _subject(effect: Effect) -> str:
    for name in ("playback_id", "leg_id", "channel_id", "bridge_id"):
        value = getattr(effect, name, None)
        if isinstance(value, str):
            return value
    return ""


class Executor:
    """Runs a call's effects over ARI and the service's ports; returns the events they caused."""

    def __init__(
        self,
        ctx: SessionContext,
        call_id: str,
        start_timer: Callable[[str, float], None],
        register: Callable[[str], None],
    ) -> None:
        self.ctx = ctx
        self.call_id = call_id
        self._start_timer = start_timer
        self._register = register

    async def run(self, effects: list[Effect]) -> list[ev.Event]:
        results: list[ev.Event] = []
        for effect in effects:
            results.extend(await self._one(effect))
        return results

    async def _one(self, effect: Effect) -> list[ev.Event]:
        if self._local(effect):
            return []
        if isinstance(effect, Redeliver):
            return [effect.event]
        if isinstance(effect, CheckChannels):
            return await self._check_channels(effect.channel_ids)
        if isinstance(effect, CheckPlayback):
            return await self._check_playback(effect.playback_id)
        if isinstance(effect, CheckPin):
            outbound = self.ctx.outbound
            owner = await asyncio.to_thread(outbound.pins.owner, effect.pin) if outbound else None
            return [ev.PinChecked(owner)]
        if isinstance(effect, Persist | ForgetFacts):
            await self._persist(effect)
            return []
        name = _ACTION_NAMES.get(type(effect), "action")
        if isinstance(effect, Hangup):
            name = effect.action
        try:
            await self._ari(effect, self.ctx.ari())
        except AriGone:
            log.debug("call.action_gone", action=name)
            return [ev.ActionFailed(name, _subject(effect))]
        except AriError as exc:
            log.warning("call.action_failed", action=name, error=str(exc))
            return [ev.ActionFailed(name, _subject(effect))]
        on_ok = getattr(effect, "on_ok", ())
        return await self.run(list(on_ok)) if on_ok else []

    def _local(self, effect: Effect) -> bool:
        """Effects that touch no network: the writer, MQTT, timers, the blocklist."""
        ctx = self.ctx
        if isinstance(effect, Emit):
            ctx.emit(effect.event, call_id=self.call_id, **effect.fields)
        elif isinstance(effect, Submit):
            ctx.submit_record(effect.record)
        elif isinstance(effect, StartTimer):
            self._start_timer(effect.name, effect.after_s)
        elif isinstance(effect, Charge):
            if ctx.charge is not None:
                ctx.charge(effect.record)
        elif isinstance(effect, Block):
            if ctx.block is not None:
                ctx.block(effect.entry)
        else:
            return False
        return True

    async def _ari(self, effect: Effect, ari: AriActions) -> None:  # noqa: C901 - one line per effect
        lang = self.ctx.language
        if isinstance(effect, CreateLeg):
            self._register(effect.leg_id)  # its StasisStart may come before the answer
            target = endpoint(effect.target, effect.trunk)
            await ari.create_channel(
                target, effect.leg_id, effect.app_args, effect.originator, dict(effect.variables)
            )
        elif isinstance(effect, Dial):
            await ari.dial(effect.leg_id, effect.caller, effect.timeout_s)
        elif isinstance(effect, Ring):
            await ari.ring(effect.channel_id)
        elif isinstance(effect, Progress):
            await ari.progress(effect.channel_id)
        elif isinstance(effect, Answer):
            await ari.answer(effect.channel_id)
        elif isinstance(effect, Play):
            await ari.play(effect.channel_id, sound(effect.prompt), effect.playback_id, lang)
        elif isinstance(effect, PlayRingback):
            await ari.play(effect.channel_id, ringback_tone(lang), effect.playback_id, lang)
        elif isinstance(effect, SayDigits):
            await ari.play(effect.channel_id, f"digits:{effect.digits}", effect.playback_id, lang)
        elif isinstance(effect, StopPlayback):
            await ari.stop_playback(effect.playback_id)
        elif isinstance(effect, Record):
            await ari.record(effect.channel_id, effect.name, effect.max_s)
        elif isinstance(effect, Hangup):
            await ari.hangup(effect.channel_id, effect.cause)
        elif isinstance(effect, CreateBridge):
            await ari.create_bridge(effect.bridge_id)
        elif isinstance(effect, AddToBridge):
            await ari.add_to_bridge(effect.bridge_id, list(effect.channel_ids))
        elif isinstance(effect, RemoveFromBridge):
            await ari.remove_from_bridge(effect.bridge_id, list(effect.channel_ids))
        elif isinstance(effect, DestroyBridge):
            await ari.destroy_bridge(effect.bridge_id)
        elif isinstance(effect, RecordBridge):
            await ari.record_bridge(effect.bridge_id, effect.name, effect.format, effect.max_s)

    async def _check_channels(self, channel_ids: tuple[str, ...]) -> list[ev.Event]:
        found: list[ev.Event] = []
        for channel_id in channel_ids:
            try:
                await self.ctx.ari().get_channel(channel_id)
            except AriGone:
                log.info("call.channel_vanished", channel=channel_id)
                found.append(ev.ChannelGone(channel_id, None, "gone while callguard was away"))
            except AriError:
                return [*found, ev.ResyncChecked(False)]  # not connected: the next resync tries again
        return [*found, ev.ResyncChecked(True)]

    async def _check_playback(self, playback_id: str) -> list[ev.Event]:
        try:
            await self.ctx.ari().get_playback(playback_id)
        except AriGone:
            return [ev.PlaybackDone(playback_id)]
        except AriError as exc:
            log.warning("call.action_failed", action="get_playback", error=str(exc))
        return []

    async def _persist(self, effect: Persist | ForgetFacts) -> None:
        if self.ctx.persist is None:
            return
        facts = GlobalFacts(self.ctx.ari())
        try:
            if isinstance(effect, ForgetFacts):
                await facts.forget(effect.channel_id)
            else:
                await self.ctx.persist(facts, effect.channel_id, effect.facts)
        except (AriError, ValueError) as exc:  # the call goes on; a restart then knows less about it
            log.warning("call.persist_failed", error=str(exc))


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


_ACTION_NAMES: dict[type, str] = {
    CreateLeg: "create_leg",
    Dial: "dial",
    Ring: "ring",
    Progress: "progress",
    Answer: "answer",
    Play: "play",
    PlayRingback: "ringback",
    SayDigits: "play",
    StopPlayback: "stop_playback",
    Record: "record",
    CreateBridge: "bridge",
    AddToBridge: "bridge_add",
    RemoveFromBridge: "bridge_remove",
    DestroyBridge: "destroy_bridge",
    RecordBridge: "record_bridge",
}
