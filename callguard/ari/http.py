"""ARI's REST requests over kept-alive HTTP/1.1 connections of callguard's own.

callguard sends ten requests a call, all to one Asterisk with the same headers. Through
aiohttp's client each cost the controller ~125 µs of CPU (URL objects, header multidicts,
tracing hooks, a timeout context), through this module ~45 µs (issue 12; both measured from
AriClient against the lab's Asterisk). The event websocket stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

_PATH_SAFE = "/:@!$&'()*+,;="  # RFC 3986 path characters; the rest is percent-encoded


def basic_auth(user: str, password: str) -> str:
    """The Authorization header's value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HttpError(Exception):
    """No answer: the connection failed, closed or timed out."""


class _Dropped(HttpError):
    """The connection closed before any byte of the answer: a kept-alive one Asterisk had just
    closed, so the request may not have reached it."""


class _Connection(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True  # false once an answer says "Connection: close"
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._until_close = False  # an answer with neither length nor chunks ends with the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._until_close:
            answer.set_result(self._head_and_rest())
        elif self._buffer:
            answer.set_exception(HttpError("connection closed in the middle of the answer"))
        else:
            answer.set_exception(_Dropped("connection closed before the answer"))

    def send(self, request: bytes, timeout_s: float) -> asyncio.Future[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._answer, self._until_close = answer, False
        self._buffer.clear()
        timer = loop.call_later(timeout_s, self._time_out, answer)
        answer.add_done_callback(lambda _: timer.cancel())
        assert self.transport is not None
        self.transport.write(request)
        return answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _time_out(self, answer: asyncio.Future[tuple[int, bytes]]) -> None:
        if not answer.done():
            answer.set_exception(TimeoutError())
        self.close()  # an answer may still come: this connection cannot be reused

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self._buffer += data
        if not self._until_close:
            answer = self._complete()
            if answer is not None:
                self._answer.set_result(answer)

    def _head_and_rest(self) -> tuple[int, bytes]:
        end = self._buffer.find(b"\r\n\r\n")
        return int(self._buffer[9:12]), bytes(self._buffer[end + 4 :])

    def _complete(self) -> tuple[int, bytes] | None:
        """The answer once the buffer holds all of it."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        status = int(lines[0][9:12])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"connection") == b"close":
            self.reusable = False
        body_at = end + 4
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            if len(self._buffer) < body_at + length:
                return None
            return status, bytes(self._buffer[body_at : body_at + length])
        if headers.get(b"transfer-encoding") == b"chunked":
            return _dechunk(self._buffer, body_at, status)
        if status in (204, 304) or 100 <= status < 200:
            return status, b""
        self._until_close, self.reusable = True, False
        return None


def _dechunk(buffer: bytearray, at: int, status: int) -> tuple[int, bytes] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        if size == 0:
            return (status, bytes(body)) if buffer.find(b"\r\n\r\n", line_end) >= 0 else None
        start = line_end + 2
        if len(buffer) < start + size + 2:
            return None
        body += buffer[start : start + size]
        at = start + size + 2


class HttpPool:
    """At most `limit` connections to the host of `url`, each used by one request at a time and
    kept alive between them; every request answered or failed within `timeout_s`."""

    def __init__(self, url: str, user: str, password: str, limit: int, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = (
            f"Host: {parts.netloc.rpartition('@')[2]}\r\nAuthorization: {basic_auth(user, password)}\r\n"
            "User-Agent: callguard\r\n"
        )
        self._limit = limit
        self._timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def request(
        self, method: str, path: str, query: Mapping[str, str | int] | None = None, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one request; HttpError when no answer came."""
        target = quote(self._prefix + path, safe=_PATH_SAFE)
        if query:
            target += "?" + urlencode(query, quote_via=quote)
        if body is None:
            head = f"{method} {target} HTTP/1.1\r\n{self._headers}Content-Length: 0\r\n\r\n"
            request = head.encode()
        else:
            head = (
                f"{method} {target} HTTP/1.1\r\n{self._headers}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            request = head.encode() + body
        for attempt in (1, 2):
            connection, reused = await self._acquire()
            try:
                answer = await connection.send(request, self._timeout_s)
            except _Dropped:
                self._drop(connection)
                if not reused or attempt == 2:
                    raise
                continue
            except BaseException:
                # Timed out or cancelled: its answer may still come, so the connection must
                # never carry another request.
                self._drop(connection)
                raise
            self._release(connection)
            return answer
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        while self._waiting:
            wake = self._waiting.popleft()
            if not wake.done():
                wake.set_exception(HttpError("client closed"))

    async def _acquire(self) -> tuple[_Connection, bool]:
        while True:
            if self._closed:
                raise HttpError("client closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed:
                    return connection, True
                self._open.discard(connection)
            if len(self._open) < self._limit:
                return await self._connect(), False
            wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(wake)
            try:
                await asyncio.wait_for(wake, self._timeout_s)  # only when all `limit` are busy
            except TimeoutError:
                raise HttpError(f"no free connection of {self._limit} within {self._timeout_s} s") from None

    async def _connect(self) -> _Connection:
        connection = _Connection()
        self._open.add(connection)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(
                    lambda: connection, self._host, self._port, ssl=self._tls
                ),
                self._timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            self._open.discard(connection)
            self._wake_one()
            reason = str(exc) or type(exc).__name__
            raise HttpError(f"cannot connect to {self._host}:{self._port}: {reason}") from exc
        return connection

    def _release(self, connection: _Connection) -> None:
        """After a complete answer: kept for the next request, unless it is closing."""
        if connection.closed or not connection.reusable or self._closed:
            self._drop(connection)
            return
        self._idle.append(connection)
        self._wake_one()

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiting:
            wake = self._waiting.popleft()
            if not wake.done():
                wake.set_result(None)
                return
