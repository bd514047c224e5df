"""`[supervision]`: LOG-6 spot checks, a sample of outside calls recorded after an announcement."""

from __future__ import annotations

from pydantic import Field

from callguard.config.base import Strict


class SupervisionSettings(Strict):
    """`record_percent` of outside calls (0, the default, records none) are announced to the
    caller ("本通话可能被录音") and recorded; `format` is what Asterisk writes (wav, gsm...)."""

    record_percent: float = Field(default=0, ge=0, le=100)
    format: str = Field(default="wav", pattern=r"^[a-z0-9]{2,8}$")
    max_duration_s: int = Field(default=3600, ge=1)
