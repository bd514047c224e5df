"""`[metrics]`: where the controller serves its Prometheus metrics (off unless configured)."""

from __future__ import annotations

from pydantic import Field

from callguard.config.base import Strict


class MetricsSettings(Strict):
    """`port = 0` (the default) serves nothing; a port serves /metrics on `host`, which stays
    loopback unless an administrator chooses otherwise (the figures name departments)."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)

    @property
    def enabled(self) -> bool:
        return self.port > 0
