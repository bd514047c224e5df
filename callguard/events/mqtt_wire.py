"""A publish-only MQTT 3.1.1 client: what the event publisher needs, and nothing else (issue 12).

aiomqtt wraps paho, which builds each packet through several layers, writes it with a system
call of its own and wakes a task for each acknowledgement: at six QoS 1 events a call that was
~15 % of the controller's CPU at 100 calls/s. Here a publication is a few bytes added to the
socket's next write (those of one loop turn go out together) and a future its PUBACK resolves.

It speaks MQTT 3.1.1 (mosquitto, EMQX, HiveMQ, VerneMQ all do), with a clean session, a user
and password, TLS and a retained last will (published by the broker whenever the connection
ends, a stop included: callguard never sends DISCONNECT). A broker that stops acknowledging (no
PUBACK or PINGRESP within `timeout_s`) is a failed connection: the publisher reconnects and sends
again.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass
from typing import cast

from callguard.config import MqttSettings

CONNECT, CONNACK, PUBLISH, PUBACK, PINGREQ, PINGRESP = 1, 2, 3, 4, 12, 13
KEEPALIVE_S = 60  # what aiomqtt used: an idle connection sends PINGREQ at half of it

_REFUSED = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttError(Exception):
    """The broker could not be reached, refused the connection, closed it or stopped answering."""


@dataclass(frozen=True)
class Will:
    """What the broker publishes (QoS 1) when the connection ends without a DISCONNECT."""

    topic: str
    payload: bytes
    retain: bool = True


def ssl_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """TLS as `[mqtt]` asks: the broker's chain verified (the system's CAs, or `ca_file`), its
    name checked unless `tls_insecure`, a client certificate when `cert_file` is set.
    OSError (a file that cannot be read) and ssl.SSLError (one that is no certificate) pass up."""
    if not settings.tls:
        return None
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file or None)
    if settings.tls_insecure:
        context.check_hostname = False  # the chain is still verified, only the name is not
    return context


def _length(n: int) -> bytes:
    """MQTT's remaining length: seven bits a byte, least significant first."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def connect_packet(client_id: str, username: str, password: str, will: Will | None) -> bytes:
    flags = 0x02  # clean session: unacknowledged events are the publisher's to send again
    payload = _field(client_id.encode())
    if will is not None:
        flags |= 0x04 | (1 << 3) | (0x20 if will.retain else 0)  # will, QoS 1, retain
        payload += _field(will.topic.encode()) + _field(will.payload)
    if username:
        flags |= 0x80
        payload += _field(username.encode())
        if password:
            flags |= 0x40
            payload += _field(password.encode())
    body = _field(b"MQTT") + bytes([4, flags]) + struct.pack("!H", KEEPALIVE_S) + payload
    return bytes([CONNECT << 4]) + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int, retain: bool = False) -> bytes:
    """A QoS 1 PUBLISH."""
    body = _field(topic.encode()) + struct.pack("!H", packet_id) + payload
    return bytes([PUBLISH << 4 | 0x02 | (1 if retain else 0)]) + _length(len(body)) + body


class MqttConnection(asyncio.Protocol):
    """One connection to the broker. `publish()` returns the future of the event's PUBACK;
    every future still waiting fails with MqttError when the connection ends."""

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout_s = timeout_s
        self._transport: asyncio.Transport | None = None
        self._received = bytearray()
        self._outgoing: list[bytes] = []  # this loop turn's packets: one write at its end
        self._connack: asyncio.Future[int] = self._loop.create_future()
        # Packet id → (its PUBACK, when it was sent). Ids are taken in order, so the first entry
        # is the oldest: the watchdog looks at it alone.
        self._acks: dict[int, tuple[asyncio.Future[None], float]] = {}
        self._next_id = 0
        self._last_sent = self._loop.time()  # the keep-alive pings after KEEPALIVE_S / 2 idle
        self._ping_sent: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.error: MqttError | None = None  # set once the connection is over

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._watchdog = self._loop.call_later(1.0, self._watch)

    def data_received(self, data: bytes) -> None:
        buffer = self._received
        buffer += data
        while len(buffer) >= 2:
            length, shift, at = 0, 0, 1
            while True:  # the remaining length: up to four bytes
                if at >= len(buffer):
                    return  # the rest of the header is still on its way
                byte = buffer[at]
                length |= (byte & 0x7F) << shift
                at += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    self._fail(MqttError("the broker sent a malformed packet"))
                    if self._transport is not None:
                        self._transport.abort()
                    return
            if len(buffer) < at + length:
                return
            kind, body = buffer[0] >> 4, bytes(buffer[at : at + length])
            del buffer[: at + length]
            self._packet(kind, body)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "the broker closed the connection"
        self._fail(MqttError(reason))

    # --- what the publisher calls ------------------------------------------------------------

    def send_connect(self, client_id: str, username: str, password: str, will: Will | None) -> None:
        self._write(connect_packet(client_id, username, password, will))

    async def connected(self) -> None:
        code = await self._connack
        if code:
            raise MqttError(f"the broker refused the connection: {_REFUSED.get(code, f'code {code}')}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> asyncio.Future[None]:
        """Send one event at QoS 1; the future is done when the broker has acknowledged it."""
        if self.error is not None:
            raise MqttError(str(self.error))  # a new one: re-raising one would grow its traceback
        packet_id = self._take_id()
        ack: asyncio.Future[None] = self._loop.create_future()
        self._acks[packet_id] = (ack, self._loop.time())
        self._write(publish_packet(topic, payload, packet_id, retain))
        return ack

    def close(self) -> None:
        """Close without a DISCONNECT: the broker publishes the will."""
        if self._transport is not None:
            self._transport.close()
        self._fail(MqttError("connection closed"))

    # --- inside --------------------------------------------------------------------------

    def _packet(self, kind: int, body: bytes) -> None:
        if kind == PUBACK and len(body) >= 2:
            entry = self._acks.pop(body[0] << 8 | body[1], None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(None)
        elif kind == CONNACK and len(body) >= 2:
            if not self._connack.done():
                self._connack.set_result(body[1])
        elif kind == PINGRESP:
            self._ping_sent = None
        # Nothing else is expected: this client subscribes to nothing.

    def _take_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1  # 1 … 65535: 0 is not a packet id
            if self._next_id not in self._acks:
                return self._next_id
        raise MqttError("65,535 events await their acknowledgement")

    def _write(self, packet: bytes) -> None:
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(packet)

    def _flush(self) -> None:
        if self._outgoing and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._outgoing))
            self._last_sent = self._loop.time()
        self._outgoing.clear()

    def _watch(self) -> None:
        """Once a second: a PUBACK or PINGRESP overdue ends the connection; an idle one pings."""
        now = self._loop.time()
        problem = self._overdue(now)
        if problem is not None:
            self._fail(MqttError(problem))
            if self._transport is not None:
                self._transport.abort()
            return
        if self._ping_sent is None and now - self._last_sent >= KEEPALIVE_S / 2:
            self._ping_sent = now
            self._write(bytes([PINGREQ << 4, 0]))
        self._watchdog = self._loop.call_later(1.0, self._watch)

    def _overdue(self, now: float) -> str | None:
        oldest = next(iter(self._acks.values()), None)
        if oldest is not None and now - oldest[1] > self._timeout_s:
            return f"no acknowledgement from the broker within {self._timeout_s:g} s"
        if self._ping_sent is not None and now - self._ping_sent > self._timeout_s:
            return f"no answer to a ping within {self._timeout_s:g} s"
        return None

    def _fail(self, error: MqttError) -> None:
        if self.error is not None:
            return
        self.error = error
        if self._watchdog is not None:
            self._watchdog.cancel()
        if not self._connack.done():
            self._connack.set_exception(error)
            self._connack.exception()  # retrieved: connect() may have stopped waiting
        for ack, _ in self._acks.values():
            if not ack.done():
                ack.set_exception(error)
        self._acks.clear()


async def connect(
    settings: MqttSettings, client_id: str, will: Will | None, timeout_s: float = 5.0
) -> MqttConnection:
    """Connect and wait for the broker's CONNACK. MqttError names what went wrong."""
    loop = asyncio.get_running_loop()
    where = f"{settings.host}:{settings.port}"
    connection: MqttConnection | None = None
    try:
        async with asyncio.timeout(timeout_s):
            tls = ssl_context(settings)
            _, connection = await loop.create_connection(
                lambda: MqttConnection(timeout_s),
                settings.host,
                settings.port,
                ssl=tls,
                server_hostname=settings.host if tls else None,
            )
            connection.send_connect(client_id, settings.username, settings.password, will)
            await connection.connected()
    except (TimeoutError, OSError, MqttError) as exc:
        if connection is not None:
            connection.close()
        if isinstance(exc, TimeoutError):
            problem = f"no answer within {timeout_s:g} s"
        elif isinstance(exc, OSError):  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            problem = exc.strerror or str(exc)
        else:
            problem = str(exc)
        raise MqttError(f"{where}: {problem}") from exc
    return connection
