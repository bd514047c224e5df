"""The MQTT publisher: a bounded outbox drained by one task that reconnects on its own."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import aiomqtt
import structlog

from callguard.config import MqttSettings
from callguard.metrics import MQTT_DROPPED

log = structlog.get_logger("callguard.events")


def client_options(settings: MqttSettings) -> dict[str, Any]:
    """User, password and TLS for aiomqtt.Client: the broker should accept no anonymous client
    (a dashboard must not be able to publish fake call events, nor read them without a user)."""
    options: dict[str, Any] = {
        "username": settings.username or None,
        "password": settings.password or None,
    }
    if settings.tls:
        options["tls_params"] = aiomqtt.TLSParameters(
            ca_certs=settings.ca_file or None,
            certfile=settings.cert_file or None,
            keyfile=settings.key_file or None,
        )
        options["tls_insecure"] = settings.tls_insecure
    return options


def topic_for(prefix: str, node: str, event: str, fields: dict[str, Any]) -> str:
    """`call.ringing` for call X → `<prefix>/<node>/calls/X/ringing`; others → `<prefix>/<node>/<a>/<b>`."""
    group, _, name = event.partition(".")
    call_id = fields.get("call_id")
    if group == "call" and call_id:
        return f"{prefix}/{node}/calls/{call_id}/{name}"
    return f"{prefix}/{node}/{group}/{name or 'event'}"


class MqttPublisher:
    """`publish()` never waits: when the outbox is full the oldest event is dropped and counted."""

    def __init__(self, settings: MqttSettings, node: str) -> None:
        self._settings = settings
        self._node = node
        self._outbox: deque[tuple[str, bytes]] = deque(maxlen=settings.outbox_size)
        self._wakeup = asyncio.Event()
        self.dropped = 0
        self.published = 0
        self.connected = False

    @property
    def queued(self) -> int:
        return len(self._outbox)

    def publish(self, event: str, fields: dict[str, Any]) -> None:
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
            MQTT_DROPPED.inc()
        payload = json.dumps(
            {"event": event, "node": self._node, **fields}, default=str, ensure_ascii=False
        ).encode()
        self._outbox.append((topic_for(self._settings.topic_prefix, self._node, event, fields), payload))
        self._wakeup.set()

    async def run(self) -> None:
        status_topic = f"{self._settings.topic_prefix}/{self._node}/status"
        delay = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    self._settings.host,
                    self._settings.port,
                    identifier=f"callguard-{self._node}",
                    timeout=5,
                    will=aiomqtt.Will(status_topic, b"offline", qos=1, retain=True),
                    **client_options(self._settings),
                ) as client:
                    self.connected = True
                    delay = 0.5
                    log.info(
                        "mqtt.connected",
                        host=self._settings.host,
                        port=self._settings.port,
                        queued=len(self._outbox),
                    )
                    await client.publish(status_topic, b"online", qos=1, retain=True)
                    await self._drain(client)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("mqtt.disconnected", error=str(exc), queued=len(self._outbox))
                else:
                    log.warning(
                        "mqtt.connect_failed",
                        host=self._settings.host,
                        port=self._settings.port,
                        error=str(exc),
                        retry_in_s=delay,
                    )
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            while self._outbox:
                topic, payload = self._outbox[0]
                await client.publish(topic, payload, qos=1)
                # Only a delivered event leaves the outbox: a broker outage loses nothing queued.
                self._outbox.popleft()
                self.published += 1
            self._wakeup.clear()
            await self._wakeup.wait()
