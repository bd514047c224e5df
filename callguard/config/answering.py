"""[inbound] (SEC-1) and [answering] (ANS-1..7, XFER-1..3): calls to the company."""

from __future__ import annotations

from pydantic import Field

from callguard.config.base import Strict
from callguard.config.directory import OfficeHours


class InboundSettings(Strict):
    """SEC-1: outside callers on the blocklist (`callguard block ...`) are refused politely; one
    who calls more than `auto_block_calls` times within `auto_block_window_min` minutes is
    blocked for `auto_block_min` minutes. Calls to duty and alarm lines are never blocked (ANS-5)."""

    auto_block_calls: int = Field(default=5, ge=1)
    auto_block_window_min: float = Field(default=10, gt=0)
    auto_block_min: float = Field(default=60, gt=0)
    blocklist_refresh_s: float = Field(default=5.0, gt=0)
    # Callers without a number (withheld, "anonymous", junk): let them through, or refuse them
    # politely (SEC-1, reason anonymous_caller). They are never counted as one repeat caller.
    anonymous: str = Field(default="allow", pattern="^(allow|block)$")


class AnsweringSettings(Strict):
    """ANS-1..7 and XFER-1..3 for calls to extensions."""

    rings: int = Field(default=3, ge=1, le=20)
    # China's ring cadence is 1 s on, 4 s off: 5 s per ring (US 6 s, UK 3 s).
    ring_cadence_s: float = Field(default=5.0, gt=0, le=30)
    greeting: str = Field(default="before_ringing", pattern="^(before_ringing|on_answer|off)$")
    # DID → prompt the outside caller hears (ANS-4); a DID not listed hears its department's
    # greeting (greeting_<department>) or the company's (greeting).
    greetings: dict[str, str] = Field(default_factory=dict)
    apology: bool = True  # ANS-2
    message_max_s: int = Field(default=120, ge=5, le=600)  # XFER-3
    office_hours: OfficeHours = OfficeHours()
    # ANS-3: a phone that has not started ringing this long after the INVITE is offline: skipped.
    offline_after_s: float = Field(default=4.0, gt=0, le=60)
    # XFER-2: an employee in a call presses *2, the extension, then # to hand the caller on.
    transfer_code: str = Field(default="*2", pattern=r"^[*#][0-9]$")
