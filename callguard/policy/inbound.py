"""Calls from outside (the PSTN trunk): SEC-1's blocklist and repeat-caller guard, ANS-5's
duty and alarm lines that nothing may block."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta

from callguard.config import InboundSettings
from callguard.policy import q850
from callguard.policy.answering import PRIORITY_LINES
from callguard.policy.decisions import BlockEntry, CallRequest, Refuse
from callguard.policy.directory import Directory
from callguard.policy.numbers import Numbering


class Blocklist:
    """An immutable snapshot; the service swaps in a new one when the list changes. With a
    numbering plan, entries are held in SEC-1's normal form, whatever form they were stored in."""

    def __init__(self, entries: tuple[BlockEntry, ...] = (), numbering: Numbering | None = None) -> None:
        self.numbering = numbering
        if numbering is not None:
            entries = tuple(_normalised(e, numbering) for e in entries)
        # An exact entry is more specific than a prefix; among prefixes the longest explains best.
        self.entries = tuple(sorted(entries, key=lambda e: (e.prefix, -len(e.pattern))))

    def match(self, number: str, at: datetime | None) -> BlockEntry | None:
        if not number:
            return None
        return next((e for e in self.entries if e.matches(number, at)), None)

    def adding(self, entry: BlockEntry) -> Blocklist:
        return Blocklist((*self.entries, entry), self.numbering)


def _normalised(entry: BlockEntry, numbering: Numbering) -> BlockEntry:
    """An entry that cannot be read as a number (or placed as a prefix) keeps its pattern."""
    pattern = (
        numbering.canonical_prefix(entry.pattern) if entry.prefix else numbering.canonical(entry.pattern)
    )
    return replace(entry, pattern=pattern) if pattern else entry


class RepeatCallers:
    """Counts calls per outside number in a rolling window (time passed in, no clock read)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._calls: dict[str, deque[float]] = {}

    def note(self, number: str, now: float) -> int:
        """Count this call; return how many calls `number` made within the window, this one included."""
        calls = self._calls.setdefault(number, deque())
        calls.append(now)
        while calls and calls[0] <= now - self.window_s:
            calls.popleft()
        if len(self._calls) > 10_000:  # forget callers whose window has passed
            for key in [k for k, v in self._calls.items() if not v or v[-1] <= now - self.window_s]:
                del self._calls[key]
        return len(calls)


class InboundPolicy:
    def __init__(
        self, directory: Directory, settings: InboundSettings, numbering: Numbering | None = None
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.numbering = numbering or Numbering()
        self._blocklist = Blocklist(numbering=self.numbering)

    @property
    def blocklist(self) -> Blocklist:
        return self._blocklist

    @blocklist.setter
    def blocklist(self, value: Blocklist) -> None:
        # However the list was loaded (database rows, CLI, tests), it is matched in normal form.
        if value.numbering is not self.numbering:
            value = Blocklist(value.entries, self.numbering)
        self._blocklist = value

    def caller_key(self, caller: str) -> str | None:
        """SEC-1: the caller's number in normal form, or None for a caller without a number (who
        is never counted, matched or blocked as if all withheld callers were one number)."""
        return self.numbering.canonical(caller)

    def decide(self, call: CallRequest) -> Refuse | None:
        """A refusal for a blocked caller, or None: the call goes on to routing."""
        line = self.directory.line(call.dialed)
        if line is not None and line.kind in PRIORITY_LINES:  # ANS-5: no filter applies to them
            return None
        caller = self.caller_key(call.caller)
        if caller is None:
            if self.settings.anonymous == "block":
                return Refuse(
                    reason="anonymous_caller", cause=q850.CALL_REJECTED, rule="SEC-1", prompt="blocked_caller"
                )
            return None
        entry = self.blocklist.match(caller, call.at)
        if entry is not None:
            return Refuse(
                reason="blocked_caller",
                cause=q850.CALL_REJECTED,
                rule="SEC-1",
                prompt="blocked_caller",
            )
        if call.recent_calls > self.settings.auto_block_calls and call.at is not None:
            return Refuse(
                reason="blocked_caller",
                cause=q850.CALL_REJECTED,
                rule="SEC-1",
                prompt="blocked_caller",
                new_block=BlockEntry(
                    pattern=caller,
                    prefix=False,
                    reason=(
                        f"{call.recent_calls} calls within {self.settings.auto_block_window_min:g} minutes"
                    ),
                    added_by="callguard",
                    until=call.at + timedelta(minutes=self.settings.auto_block_min),
                ),
            )
        return None
