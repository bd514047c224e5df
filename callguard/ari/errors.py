"""ARI's errors, shared by the HTTP and the websocket transports."""

from __future__ import annotations


class AriError(Exception):
    """Asterisk answered a request with an error, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AriGone(AriError):
    """404: the channel or bridge no longer exists. An ordinary outcome in telephony."""
