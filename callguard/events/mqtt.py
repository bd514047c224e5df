"""The MQTT publisher: a bounded outbox drained by one task that reconnects on its own."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import structlog

from callguard.config import MqttSettings
from callguard.events.mqtt_wire import MqttConnection, MqttError, Will, connect, ssl_context
from callguard.jsontext import encode
from callguard.metrics import MQTT_DROPPED, MQTT_PUBLISHED

log = structlog.get_logger("callguard.events")

# QoS 1 publications awaiting their PUBACK at once: paho's own in-flight limit. One at a time
# cost a broker round trip per event and kept the drain task busy at high call rates.
IN_FLIGHT = 20


def client_options(settings: MqttSettings) -> dict[str, Any]:
    """User, password and TLS for the console's aiomqtt.Client, as the publisher connects: the
    broker should accept no anonymous client (a dashboard must not be able to publish fake call
    events, nor read them without a user)."""
    options: dict[str, Any] = {
        "username": settings.username or None,
        "password": settings.password or None,
    }
    if settings.tls:
        options["tls_context"] = ssl_context(settings)
    return options


def topic_for(prefix: str, node: str, event: str, fields: dict[str, Any]) -> str:
    """`call.ringing` for call X → `<prefix>/<node>/calls/X/ringing`; others → `<prefix>/<node>/<a>/<b>`."""
    group, _, name = event.partition(".")
    call_id = fields.get("call_id")
    if group == "call" and call_id:
        return f"{prefix}/{node}/calls/{call_id}/{name}"
    return f"{prefix}/{node}/{group}/{name or 'event'}"


Message = tuple[str, bytes]  # topic, payload


class MqttPublisher:
    """`publish()` never waits: when the outbox is full the oldest event is dropped and counted.
    Up to `in_flight` events are published at once, in order; only a delivered (PUBACK'd)
    event leaves the outbox, so a broker outage loses nothing queued (some may come twice)."""

    def __init__(self, settings: MqttSettings, node: str, in_flight: int = IN_FLIGHT) -> None:
        self._settings = settings
        self._node = node
        self._outbox: deque[Message] = deque()  # not yet sent
        self._sending: deque[Message] = deque()  # sent, PUBACK awaited: the outbox's head
        self._in_flight = in_flight
        self._wakeup = asyncio.Event()
        self.dropped = 0
        self.published = 0
        self.connected = False

    @property
    def queued(self) -> int:
        return len(self._sending) + len(self._outbox)

    def publish(self, event: str, fields: dict[str, Any]) -> None:
        if self.queued >= self._settings.outbox_size and self._outbox:
            self._outbox.popleft()
            self.dropped += 1
            MQTT_DROPPED.inc()
        payload = encode({"event": event, "node": self._node, **fields})
        self._outbox.append((topic_for(self._settings.topic_prefix, self._node, event, fields), payload))
        self._wakeup.set()

    async def run(self) -> None:
        status_topic = f"{self._settings.topic_prefix}/{self._node}/status"
        will = Will(status_topic, b"offline")
        delay = 0.5
        while True:
            try:
                connection = await connect(self._settings, f"callguard-{self._node}", will)
                try:
                    self.connected = True
                    delay = 0.5
                    log.info(
                        "mqtt.connected",
                        host=self._settings.host,
                        port=self._settings.port,
                        queued=self.queued,
                    )
                    await connection.publish(status_topic, b"online", retain=True)
                    await self._drain(connection)
                finally:
                    # Closed without a DISCONNECT, on a stop too: the broker then publishes the
                    # will, so `status` says "offline" whenever callguard is not publishing.
                    connection.close()
            except MqttError as exc:
                if self.connected:
                    log.warning("mqtt.disconnected", error=str(exc), queued=self.queued)
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

    async def _drain(self, connection: MqttConnection) -> None:
        acks: deque[asyncio.Future[None]] = deque()  # one per event in `_sending`, in order
        try:
            while True:
                while self._outbox and len(acks) < self._in_flight:
                    topic, payload = message = self._outbox.popleft()
                    self._sending.append(message)
                    acks.append(connection.publish(topic, payload))  # sent in this order
                if not acks:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                # MqttError (an outage, or no PUBACK within the connection's timeout): the
                # finally puts everything back.
                await acks[0]
                acks.popleft()
                self._sending.popleft()
                self.published += 1
                MQTT_PUBLISHED.inc()
        finally:
            for ack in acks:
                if ack.done() and not ack.cancelled():
                    ack.exception()  # retrieved: the first failure is the one raised
                ack.cancel()
            # Not acknowledged: back at the head of the outbox, in order, sent again on reconnect.
            self._outbox.extendleft(reversed(self._sending))
            self._sending.clear()
