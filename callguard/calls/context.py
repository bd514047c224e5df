"""What every call shares: the directory, settings, policies and the outside world's ports."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from callguard.ari.client import AriActions
from callguard.calls.pin_lockouts import PinLockouts
from callguard.config import CallSettings
from callguard.config.supervision import SupervisionSettings
from callguard.policy import (
    AnsweringPolicy,
    BlockEntry,
    Directory,
    InboundPolicy,
    OutboundPolicy,
    TollFraudGuard,
)
from callguard.records import CallRecord


class Emitter(Protocol):
    def __call__(self, event: str, /, **fields: Any) -> None: ...


class ChannelVariables(Protocol):
    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None: ...
    async def get_channel_var(self, channel_id: str, name: str) -> str | None: ...


# Keeps a call's facts in Asterisk: (variables, caller channel id, facts) (calls/persist.py).
Persister = Callable[[ChannelVariables, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class SessionContext:
    directory: Directory
    settings: CallSettings
    node: str
    ari: Callable[[], AriActions]
    emit: Emitter
    submit_record: Callable[[CallRecord], None]
    register_channel: Callable[[str, Any], None]  # route a channel's events to this call's session
    forget: Callable[[Any], None]  # the session ended: unmap all its channels
    outbound: OutboundPolicy | None = None
    guard: TollFraudGuard | None = None
    language: str = "zh_CN"  # prompts, spoken digits and the ringback tone's country
    inbound: InboundPolicy | None = None
    block: Callable[[BlockEntry], None] | None = None  # SEC-1: store an automatic block
    answering: AnsweringPolicy | None = None
    device_state: Callable[[str], str | None] | None = None  # AMI: "NOT_INUSE", "INUSE", ...
    pin_lockouts: PinLockouts | None = None  # OUT-3: wrong codes across calls lock PIN entry
    charge: Callable[[CallRecord], None] | None = None  # LOG-4: a priced call counts at once
    persist: Persister | None = None
    supervision: SupervisionSettings | None = None  # LOG-6: the recorded sample of outside calls
    monotonic: Callable[[], float] = time.monotonic  # SEC-3's hourly counts (a fake clock in tests)
