"""A call's timers: each fires once as a typed `TimerFired` event on the call's queue.

Timers are loop callbacks (no task per timer); a timer whose moment has passed for the flow
that set it (a prompt already finished, a leg already answered) is ignored by the flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callguard.calls import events as ev


class Timers:
    def __init__(self, deliver: Callable[[ev.Event], None]) -> None:
        self._deliver = deliver
        self._handles: list[asyncio.TimerHandle] = []

    def start(self, name: str, after_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._handles = [h for h in self._handles if not h.cancelled() and h.when() > loop.time()]
        self._handles.append(loop.call_later(max(0.0, after_s), self._deliver, ev.TimerFired(name)))

    def cancel_all(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
