"""Keeps one live ARI connection: connect, read events, ping, reconnect with backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import orjson
import structlog

from callguard.ari.client import AriClient, AriError
from callguard.config import AriSettings
from callguard.metrics import ARI_CONNECTS

log = structlog.get_logger("callguard.ari")


class NotConnected(AriError):
    """No ARI connection right now; the action is retried by whoever needs it."""


EventHandler = Callable[[dict[str, Any]], None]
ConnectedHook = Callable[[AriClient], Coroutine[Any, Any, None]]

# An Asterisk that takes REST requests on the websocket answers the probe as fast as an HTTP
# ping; one that does not never answers, and the connection should not wait long for it.
PROBE_TIMEOUT_S = 2.0


class AriSupervisor:
    """Owns the current AriClient. A fresh client per attempt, always closed afterwards."""

    def __init__(self, settings: AriSettings, on_event: EventHandler, on_connected: ConnectedHook) -> None:
        self._settings = settings
        self._on_event = on_event
        self._on_connected = on_connected
        self._client: AriClient | None = None
        self.connected = asyncio.Event()

    @property
    def client(self) -> AriClient:
        if self._client is None or not self.connected.is_set():
            raise NotConnected("not connected to Asterisk ARI")
        return self._client

    async def run(self) -> None:
        """Run until cancelled; never raises for a connection problem."""
        delay = self._settings.reconnect_min_s
        attempt = 0
        while True:
            attempt += 1
            client = AriClient(
                self._settings.url,
                self._settings.user,
                self._settings.password,
                self._settings.app,
                self._settings.request_timeout_s,
            )
            try:
                await self._serve(client, attempt)
                # It was up: start the backoff from the bottom again.
                delay = self._settings.reconnect_min_s
                attempt = 0
            except AriError as exc:
                event = "ari.auth_failed" if exc.status == 401 else "ari.connect_failed"
                log.warning(
                    event, url=self._settings.url, error=str(exc), attempt=attempt, retry_in_s=round(delay, 2)
                )
            finally:
                self.connected.clear()
                self._client = None
                await client.close()
            # Jitter keeps a fleet of callguards from reconnecting in lockstep.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _serve(self, client: AriClient, attempt: int) -> None:
        await client.ping()  # over HTTP: Asterisk is up and takes these credentials
        ws = await client.open_events()
        reader = asyncio.create_task(self._read_events(client, ws), name="ari-events")
        try:
            # Calls may act at once (over HTTP while the probe runs).
            self._client = client
            self.connected.set()
            await self._choose_transport(client, ws)
            ARI_CONNECTS.inc()
            log.info(
                "ari.connected",
                url=self._settings.url,
                app=self._settings.app,
                attempt=attempt,
                transport=client.transport,
            )
            hook = asyncio.create_task(self._on_connected(client), name="ari-adopt")
            pinger = asyncio.create_task(self._ping_loop(client, ws), name="ari-ping")
            try:
                await reader
            finally:
                pinger.cancel()
                if not hook.done():
                    hook.cancel()
            log.warning("ari.disconnected", url=self._settings.url, reason="websocket closed")
        finally:
            self.connected.clear()
            reader.cancel()
            client.websocket_closed()
            await ws.close()

    async def _choose_transport(self, client: AriClient, ws: aiohttp.ClientWebSocketResponse) -> None:
        """[ari] transport: auto takes the websocket when Asterisk answers the probe."""
        wanted = self._settings.transport
        if wanted == "http":
            return
        probe_timeout_s = min(PROBE_TIMEOUT_S, self._settings.request_timeout_s)
        if await client.use_websocket_requests(ws, probe_timeout_s) or wanted == "auto":
            return
        raise AriError(
            "[ari] transport = websocket, but Asterisk did not answer a REST request on the "
            "event websocket (it needs Asterisk 20.14, 21.9, 22.4 or later)"
        )

    async def _read_events(self, client: AriClient, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Answers to requests go to the client, everything else to the event handler."""
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = orjson.loads(msg.data)
                    except orjson.JSONDecodeError:
                        event = None
                    if not isinstance(event, dict):
                        log.warning("ari.bad_event", data=str(msg.data)[:200])
                    elif event.get("type") == "RESTResponse":
                        client.deliver_response(event)
                    else:
                        # Handlers only enqueue: the read loop never waits on a call.
                        self._on_event(event)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
        finally:
            # Nothing waits for an answer the closed websocket cannot bring.
            client.websocket_closed()

    async def _ping_loop(self, client: AriClient, ws: aiohttp.ClientWebSocketResponse) -> None:
        """GET asterisk/ping on the transport the calls use: over the websocket it also proves
        that Asterisk still reads and answers it (a hung Asterisk keeps the TCP session open)."""
        failures = 0
        while True:
            await asyncio.sleep(self._settings.ping_interval_s)
            try:
                await client.ping()
                failures = 0
            except AriError as exc:
                failures += 1
                log.warning("ari.ping_failed", error=str(exc), failures=failures)
                # One slow answer under load is not a dead Asterisk; two in a row are.
                if failures >= 2:
                    await ws.close()
                    return
