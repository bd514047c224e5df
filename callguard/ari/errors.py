"""ARI's errors, shared by the HTTP and the websocket transports."""

from __future__ import annotations


class AriError(Exception):
    """Asterisk answered a request with an error, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AriGone(AriError):
    """404: the channel or bridge no longer exists. An ordinary outcome in telephony."""


def raise_for_status(method: str, path: str, status: int, detail: str | bytes) -> None:
    """The one reading of an answer's status, whichever transport carried it: 404 is AriGone,
    any other non-2xx an AriError quoting the start of the answer."""
    if 200 <= status < 400:
        return
    if status == 404:
        raise AriGone(f"{method} {path}: not found", 404)
    text = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
    raise AriError(f"{method} {path}: HTTP {status} {text.strip()[:200]}", status)
