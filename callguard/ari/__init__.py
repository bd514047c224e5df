"""The ARI connection: REST helpers, the event websocket, reconnect and re-adoption hooks."""

from callguard.ari.client import AriClient, AriError, AriGone
from callguard.ari.supervisor import AriSupervisor, NotConnected

__all__ = ["AriClient", "AriError", "AriGone", "AriSupervisor", "NotConnected"]
