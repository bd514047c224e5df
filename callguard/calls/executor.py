"""The one executor of a call's effects, over ARI and the service's ports.

`Executor.run` performs effects in order and returns the events they caused: an ARI action
that fails is an `ActionFailed` event (a channel already gone is an ordinary outcome). This
module is also the one place that spells ARI's vocabulary: endpoints (`PJSIP/<ext>`,
`PJSIP/<number>@<trunk>`), prompts (`sound:callguard/<name>`), the ringback tone of the
configured country and spoken digits, in the configured language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from callguard.ari.client import AriActions, AriError, AriGone
from callguard.calls import dial_bridges
from callguard.calls import events as ev
from callguard.calls.context import SessionContext
from callguard.calls.effects import (
    AddToBridge,
    Answer,
    Block,
    Charge,
    CheckChannels,
    CheckPin,
    CheckPlayback,
    CreateBridge,
    CreateLeg,
    DestroyBridge,
    Dial,
    Effect,
    Emit,
    ForgetFacts,
    GlobalFacts,
    Hangup,
    Persist,
    Play,
    PlayRingback,
    Progress,
    Record,
    RecordBridge,
    Redeliver,
    RemoveFromBridge,
    Ring,
    SayDigits,
    StartTimer,
    StopPlayback,
    Submit,
)
from callguard.config.service import tone_zone

log = structlog.get_logger("callguard.calls")


def endpoint(target: str, trunk: str | None) -> str:
    return f"PJSIP/{target}@{trunk}" if trunk else f"PJSIP/{target}"


def sound(prompt: str) -> str:
    return f"sound:callguard/{prompt}"


def ringback_tone(language: str) -> str:
    """Asterisk's ringback in the country of the configured language (zh_CN → tonezone=cn)."""
    zone = tone_zone(language)
    return f"tone:ring;tonezone={zone}" if zone else "tone:ring"


def _subject(effect: Effect) -> str:
    for name in ("playback_id", "leg_id", "channel_id", "bridge_id"):
        value = getattr(effect, name, None)
        if isinstance(value, str):
            return value
    return ""


def _after_the_call(*_: object) -> None:
    """A timer or channel an ended call would still ask for: nothing listens any more."""


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

    def close(self) -> None:
        """The call is over: let go of the session's callbacks (see CallSession.run)."""
        self._start_timer = _after_the_call
        self._register = _after_the_call

    async def run(self, effects: list[Effect]) -> list[ev.Event]:
        results: list[ev.Event] = []
        # A later record of the call in the same step supersedes an earlier one (a call asked for
        # a PIN is on record at its decision and again as the question starts): one copy less.
        last_record = max((i for i, e in enumerate(effects) if isinstance(e, Submit)), default=-1)
        for i, effect in enumerate(effects):
            if isinstance(effect, Submit) and i != last_record:
                continue
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
            await dial_bridges.join(ari, self.ctx.node, effect.leg_id)
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
