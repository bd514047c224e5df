"""A small ARI client: the REST calls callguard uses (over ari/http.py's connections) and the
event websocket (over aiohttp).

aioari was tried first and dropped: it does not reconnect, leaks its session on
a failed connect, puts credentials unencoded on the URL and runs handlers inside
the read loop. Rather than wrap every one of those, callguard speaks to the
dozen endpoints it needs directly, with a timeout on every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import orjson

from callguard.ari.errors import AriError, AriGone, raise_for_status
from callguard.ari.http import HttpError, HttpPool, basic_auth
from callguard.ari.wsrest import WsRest
from callguard.metrics import ARI_REQUEST_SECONDS

__all__ = ["BRIDGE_TYPE", "JSON", "AriActions", "AriClient", "AriError", "AriGone"]

JSON = dict[str, Any]

MAX_CONNECTIONS = 32

# A two-party bridge whose DTMF Asterisk still decodes: without `dtmf_events` it bridges the
# phones' RTP natively and RFC 4733 keys typed mid-call (XFER-2's *2, any mid-call feature)
# never reach callguard. With it Asterisk picks its simple bridge (frames pass through the
# core, no mixing, no transcoding between equal codecs), the cheapest bridge that sees DTMF.
BRIDGE_TYPE = "mixing,dtmf_events"


class AriActions(Protocol):
    """The ARI operations a call performs: AriClient implements them, and so does the unit tests'
    fake (which derives from this Protocol, so mypy holds both to one interface)."""

    async def create_channel(
        self, endpoint: str, channel_id: str, app_args: str, originator: str, variables: Mapping[str, str]
    ) -> JSON: ...
    async def dial(self, channel_id: str, caller: str, timeout_s: int) -> None: ...
    async def ring(self, channel_id: str) -> None: ...
    async def progress(self, channel_id: str) -> None: ...
    async def play(self, channel_id: str, media: str, playback_id: str, lang: str) -> None: ...
    async def stop_playback(self, playback_id: str) -> None: ...
    async def get_playback(self, playback_id: str) -> JSON: ...
    async def record(self, channel_id: str, name: str, max_s: int) -> None: ...
    async def answer(self, channel_id: str) -> None: ...
    async def hangup(self, channel_id: str, cause: int | None = None) -> None: ...
    async def get_channel(self, channel_id: str) -> JSON: ...
    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None: ...
    async def get_channel_var(self, channel_id: str, name: str) -> str | None: ...
    async def set_global_var(self, name: str, value: str | None) -> None: ...
    async def get_global_var(self, name: str) -> str | None: ...
    async def create_bridge(self, bridge_id: str, kind: str = BRIDGE_TYPE) -> None: ...
    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...
    async def destroy_bridge(self, bridge_id: str) -> None: ...
    async def record_bridge(self, bridge_id: str, name: str, fmt: str, max_s: int) -> None: ...


class AriClient(AriActions):
    """REST + websocket access to one Asterisk; one instance per connection attempt. Requests
    go over HTTP until `use_websocket_requests` finds that Asterisk takes them on the event
    websocket, and over the websocket from then on."""

    def __init__(self, base_url: str, user: str, password: str, app: str, timeout_s: float) -> None:
        self.base = base_url.rstrip("/") + "/ari"
        self.app = app
        # Requests over connections of callguard's own (ari/http.py): Asterisk serves each HTTP
        # session on a thread and refuses past http.conf's sessionlimit; a bounded pool of
        # kept-alive connections stays well below it.
        self._http = HttpPool(self.base, user, password, MAX_CONNECTIONS, timeout_s)
        self._session = aiohttp.ClientSession(  # the event websocket only
            headers={"Authorization": basic_auth(user, password)},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )
        self._timeout_s = timeout_s
        self._ws_rest: WsRest | None = None  # receives RESTResponses
        self._rest_over_ws: WsRest | None = None  # carries requests, once the probe was answered

    @property
    def transport(self) -> str:
        return "websocket" if self._rest_over_ws is not None else "http"

    async def close(self) -> None:
        self.websocket_closed("client closed")
        await self._http.close()
        await self._session.close()

    async def use_websocket_requests(
        self, ws: aiohttp.ClientWebSocketResponse, probe_timeout_s: float
    ) -> bool:
        """Probe (GET asterisk/ping) whether Asterisk answers REST requests on the event websocket;
        if it does, send every later request there. Older Asterisk ignores the probe."""
        ws_rest = WsRest(ws, self._timeout_s)
        self._ws_rest = ws_rest
        try:
            await self._let_answers_through()
            await ws_rest.request("GET", "/asterisk/ping", timeout_s=probe_timeout_s)
        except AriError:
            self._ws_rest = None
            ws_rest.close("probe not answered")
            return False
        self._rest_over_ws = ws_rest
        return True

    async def _let_answers_through(self) -> None:
        """Asterisk filters answers like events, and keeps an application's event filter across
        connections: one an older callguard left without RESTResponse would hold them back."""
        allowed = (await self.application()).get("events_allowed") or []
        if allowed and not any(f.get("type") == "RESTResponse" for f in allowed):
            await self.request(
                "PUT",
                f"/applications/{self.app}/eventFilter",
                body={"allowed": [*allowed, {"type": "RESTResponse"}]},
            )

    def deliver_response(self, response: JSON) -> None:
        """A RESTResponse read from the event websocket."""
        if self._ws_rest is not None:
            self._ws_rest.deliver(response)

    def websocket_closed(self, reason: str = "websocket closed") -> None:
        """Requests waiting on the websocket fail now; later ones fail at once (the supervisor
        connects a new client), they never fall back to HTTP halfway through a connection."""
        if self._ws_rest is not None:
            self._ws_rest.close(reason)

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JSON | None = None,
    ) -> Any:
        with ARI_REQUEST_SECONDS.labels(method).time():
            if self._rest_over_ws is not None:
                return await self._rest_over_ws.request(method, path, params, body)
            return await self._request(method, path, params, body)

    async def _request(
        self, method: str, path: str, params: Mapping[str, str | int] | None, body: JSON | None
    ) -> Any:
        try:
            status, data = await self._http.request(
                method, path, params, orjson.dumps(body) if body is not None else None
            )
        except (HttpError, TimeoutError) as exc:
            raise AriError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        raise_for_status(method, path, status, data)
        return orjson.loads(data) if data else None

    async def open_events(self) -> aiohttp.ClientWebSocketResponse:
        """Open the event websocket; the caller iterates it and closes it."""
        ws_url = self.base.replace("http", "ws", 1) + "/events"
        # Credentials travel in the Authorization header, never on the URL.
        try:
            return await self._session.ws_connect(
                ws_url, params={"app": self.app, "subscribeAll": "false"}, heartbeat=15
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise AriError(f"websocket: HTTP {exc.status} {exc.message}", exc.status) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriError(f"websocket: {type(exc).__name__}: {exc}") from exc

    # --- the endpoints callguard uses -------------------------------------------------

    async def ping(self) -> None:
        await self.request("GET", "/asterisk/ping")

    async def application(self) -> JSON:
        result: JSON = await self.request("GET", f"/applications/{self.app}")
        return result

    async def filter_events(self, allowed: list[str]) -> None:
        """Ask Asterisk to send this application only these event types (Asterisk 18+).
        RESTResponse is always allowed: Asterisk filters the answers to websocket requests
        like events, and the filter outlives the connection (the next one's probe needs it)."""
        types = [*allowed, "RESTResponse"] if "RESTResponse" not in allowed else allowed
        await self.request(
            "PUT",
            f"/applications/{self.app}/eventFilter",
            body={"allowed": [{"type": t} for t in types]},
        )

    async def get_channel(self, channel_id: str) -> JSON:
        result: JSON = await self.request("GET", f"/channels/{channel_id}")
        return result

    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST", f"/channels/{channel_id}/variable", params={"variable": name, "value": value}
        )

    async def get_channel_var(self, channel_id: str, name: str) -> str | None:
        """A channel variable's value; None when it is not set (Asterisk answers 404 then)."""
        try:
            result = await self.request("GET", f"/channels/{channel_id}/variable", params={"variable": name})
        except AriGone:
            return None
        value = (result or {}).get("value")
        return str(value) if value else None

    async def set_global_var(self, name: str, value: str | None) -> None:
        """Set (or with None, unset) a global variable: unlike a channel's, it is not queued
        behind the prompt the channel is playing."""
        params = {"variable": name} if value is None else {"variable": name, "value": value}
        await self.request("POST", "/asterisk/variable", params=params)

    async def get_global_var(self, name: str) -> str | None:
        result = await self.request("GET", "/asterisk/variable", params={"variable": name})
        value = (result or {}).get("value")
        return str(value) if value else None

    async def create_channel(
        self, endpoint: str, channel_id: str, app_args: str, originator: str, variables: Mapping[str, str]
    ) -> JSON:
        result: JSON = await self.request(
            "POST",
            "/channels/create",
            params={
                "endpoint": endpoint,
                "app": self.app,
                "appArgs": app_args,
                "channelId": channel_id,
                "originator": originator,
            },
            body={"variables": dict(variables)},
        )
        return result

    async def dial(self, channel_id: str, caller: str, timeout_s: int) -> None:
        # Asterisk rejects a non-integer dial timeout.
        await self.request(
            "POST", f"/channels/{channel_id}/dial", params={"caller": caller, "timeout": int(timeout_s)}
        )

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/ring")

    async def progress(self, channel_id: str) -> None:
        """183 Session Progress: the caller hears early media (a prompt) without being answered."""
        await self.request("POST", f"/channels/{channel_id}/progress")

    async def play(self, channel_id: str, media: str, playback_id: str, lang: str) -> None:
        await self.request(
            "POST",
            f"/channels/{channel_id}/play/{playback_id}",
            params={"media": media, "lang": lang},
        )

    async def record(self, channel_id: str, name: str, max_s: int) -> None:
        """Record what the caller says after a beep, until # or `max_s` (a message, XFER-3)."""
        await self.request(
            "POST",
            f"/channels/{channel_id}/record",
            params={
                "name": name,
                "format": "wav",
                "maxDurationSeconds": max_s,
                "maxSilenceSeconds": 10,
                "beep": "true",
                "terminateOn": "#",
                "ifExists": "overwrite",
            },
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def get_playback(self, playback_id: str) -> JSON:
        """A playback still queued or playing (AriGone once it has ended)."""
        result: JSON = await self.request("GET", f"/playbacks/{playback_id}")
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, cause: int | None = None) -> None:
        params = {"reason_code": cause} if cause is not None else None
        await self.request("DELETE", f"/channels/{channel_id}", params=params)

    async def get_bridge(self, bridge_id: str) -> JSON:
        result: JSON = await self.request("GET", f"/bridges/{bridge_id}")
        return result

    async def create_bridge(self, bridge_id: str, kind: str = BRIDGE_TYPE) -> None:
        """A bridge of callguard's: `kind` is Asterisk's bridge type ("holding": calls/dial_bridges.py)."""
        await self.request("POST", f"/bridges/{bridge_id}", params={"type": kind})

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request(
            "POST", f"/bridges/{bridge_id}/addChannel", params={"channel": ",".join(channel_ids)}
        )

    async def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request(
            "POST", f"/bridges/{bridge_id}/removeChannel", params={"channel": ",".join(channel_ids)}
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    async def record_bridge(self, bridge_id: str, name: str, fmt: str, max_s: int) -> None:
        """Record both parties of a bridge (LOG-6 supervision) until it is destroyed or `max_s`."""
        await self.request(
            "POST",
            f"/bridges/{bridge_id}/record",
            params={
                "name": name,
                "format": fmt,
                "maxDurationSeconds": max_s,
                "maxSilenceSeconds": 0,
                "beep": "false",
                "terminateOn": "none",
                "ifExists": "overwrite",
            },
        )
