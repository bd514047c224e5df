"""The one event model of a call: ARI JSON parsed once into typed events, plus callguard's own.

Flows never dig in JSON: the manager parses each websocket message here, and what callguard
itself produces (a timer firing, a resync, an action that failed, a PIN checked) is a typed
event on the same queue. Odd fields are data, never crashes: a missing id is "", a timestamp
that does not parse is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]


def parse_time(value: object) -> datetime | None:
    """ARI timestamps look like 2026-11-22T20:06:36.452+0000."""
    if not isinstance(value, str) or not value:
        return None
    try:  # fromisoformat: ~60 times cheaper than strptime, and every event carries a timestamp
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None  # a time without its zone is no time


def _cause(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True, slots=True)
class Channel:
    """What callguard reads of an ARI channel object."""

    id: str
    caller_number: str = ""
    name: str = ""  # PJSIP/<endpoint>-<n>
    state: str = ""  # Up, Ring, Ringing, Down, ...
    created_at: datetime | None = None
    stasis_args: tuple[str, ...] = ()  # Stasis(callguard, <args>) from its dialplan location

    @classmethod
    def parse(cls, raw: object) -> Channel:
        data: JSON = raw if isinstance(raw, dict) else {}
        dialplan = data.get("dialplan") or {}
        args: tuple[str, ...] = ()
        if isinstance(dialplan, dict) and dialplan.get("app_name") == "Stasis":
            args = tuple(str(dialplan.get("app_data", "")).split(",")[1:])
        return cls(
            id=str(data.get("id", "")),
            caller_number=str((data.get("caller") or {}).get("number") or ""),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            created_at=parse_time(data.get("creationtime")),
            stasis_args=args,
        )

    @property
    def endpoint(self) -> str | None:
        """The extension (or number) the channel rings, from its name PJSIP/<endpoint>-<n>."""
        if "/" not in self.name:
            return None
        return self.name.split("/", 1)[-1].rsplit("-", 1)[0] or None


@dataclass(frozen=True, slots=True)
class StasisStarted:
    channel: Channel
    args: tuple[str, ...]

    @property
    def channel_id(self) -> str:
        return self.channel.id


@dataclass(frozen=True, slots=True)
class StasisEnded:
    channel_id: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Dialled:
    """A Dial event about a leg (the `peer`): RINGING, ANSWER, BUSY, ..."""

    channel_id: str
    status: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HangupRequested:
    channel_id: str
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """ChannelDestroyed, or a channel a resync found missing."""

    channel_id: str
    cause: int | None = None
    cause_txt: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    playback_id: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    channel_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class RecordingEnded:
    channel_id: str
    ok: bool  # RecordingFinished (True) or RecordingFailed
    duration_s: int | float | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class Resync:
    """No event for a while, or ARI reconnected: ask Asterisk what is still alive."""

    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class ResyncChecked:
    """A resync asked Asterisk about every live channel (False: Asterisk did not answer)."""

    reachable: bool
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """An ARI action failed (gone, refused, timed out): `subject` is its channel or media id."""

    action: str
    subject: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class PinChecked:
    """OUT-3: whose PIN was typed (None: nobody's). The PIN itself never travels further."""

    owner: str | None
    channel_id: str = field(default="")


Event = (
    StasisStarted
    | StasisEnded
    | Dialled
    | HangupRequested
    | ChannelGone
    | PlaybackDone
    | DtmfReceived
    | RecordingEnded
    | TimerFired
    | Resync
    | ResyncChecked
    | ActionFailed
    | PinChecked
)


def _target_channel(media: object) -> str:
    data = media if isinstance(media, dict) else {}
    return str(data.get("target_uri", "")).removeprefix("channel:")


def parse(raw: JSON) -> Event | None:
    """The typed event of one ARI message; None for what callguard does not act on."""
    kind = raw.get("type")
    at = parse_time(raw.get("timestamp"))
    subject = raw.get("peer") if kind == "Dial" else raw.get("channel")
    channel_id = str(subject.get("id", "")) if isinstance(subject, dict) else ""
    if kind == "StasisStart":
        return StasisStarted(Channel.parse(raw.get("channel")), tuple(str(a) for a in raw.get("args") or []))
    if kind == "StasisEnd":
        return StasisEnded(channel_id, at)
    if kind == "Dial":
        return Dialled(channel_id, str(raw.get("dialstatus") or ""), at) if channel_id else None
    if kind == "ChannelHangupRequest":
        return HangupRequested(channel_id, _cause(raw.get("cause")))
    if kind == "ChannelDestroyed":
        txt = raw.get("cause_txt")
        return ChannelGone(channel_id, _cause(raw.get("cause")), str(txt) if txt else None, at)
    if kind == "PlaybackFinished":
        playback = raw.get("playback") or {}
        return PlaybackDone(str(playback.get("id", "")), _target_channel(playback))
    if kind == "ChannelDtmfReceived":
        return DtmfReceived(channel_id, str(raw.get("digit", "")))
    if kind in ("RecordingFinished", "RecordingFailed"):
        recording = raw.get("recording") or {}
        duration = recording.get("duration") or recording.get("total_duration")
        if not isinstance(duration, int | float):
            duration = None
        return RecordingEnded(_target_channel(recording), kind == "RecordingFinished", duration)
    return None
