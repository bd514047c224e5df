"""ari/http.py against a local HTTP server that misbehaves on purpose: kept-alive connections
reused, one closed by the server while idle (the request is sent again), "Connection: close",
chunked answers, a silent server (timeout), the connection limit, percent-encoding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from callguard.ari.http import HttpError, HttpPool, basic_auth

Reply = Callable[[bytes], Awaitable[bytes | None]]  # request head -> raw answer (None: stay silent)


@dataclass
class Server:
    port: int
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    busy: int = 0
    most_busy: int = 0


def ok(body: bytes = b'{"value":"1"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> Server:
        state = Server(0)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(
                        (
                            int(h.split(b":")[1])
                            for h in head.split(b"\r\n")
                            if h.lower().startswith(b"content-length")
                        ),
                        0,
                    )
                    body = await reader.readexactly(length)
                    state.heads.append(head + body)
                    state.busy += 1
                    state.most_busy = max(state.most_busy, state.busy)
                    answer = await reply(head)
                    state.busy -= 1
                    if answer is None:
                        await asyncio.sleep(10)
                    elif answer == b"close":
                        break
                    else:
                        writer.write(answer)
                        await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield start
    for server in servers:
        server.close()


def pool(server: Server, limit: int = 4, timeout_s: float = 2.0) -> HttpPool:
    return HttpPool(f"http://127.0.0.1:{server.port}/ari", "callguard", "s3cret", limit, timeout_s)


async def test_requests_reuse_a_kept_alive_connection_with_the_credentials(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(_head: bytes) -> bytes:
        return ok()

    server = await serve(reply)
    http = pool(server)
    for _ in range(5):
        assert await http.request("GET", "/asterisk/variable", {"variable": "X"}) == (200, b'{"value":"1"}')
    await http.close()
    assert server.connections == 1
    first = server.heads[0].decode()
    assert first.startswith("GET /ari/asterisk/variable?variable=X HTTP/1.1\r\n")
    assert f"Authorization: {basic_auth('callguard', 's3cret')}\r\n" in first


async def test_query_values_and_path_are_percent_encoded_and_a_body_is_json(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(_head: bytes) -> bytes:
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    server = await serve(reply)
    http = pool(server)
    answer = await http.request(
        "POST", "/channels/a b/play", {"media": "tone:ring;tonezone=cn", "caller": '"李" <1001>&x=1'}, b"{}"
    )
    await http.close()
    assert answer == (204, b"")
    sent = server.heads[0].decode()
    assert sent.startswith(
        "POST /ari/channels/a%20b/play?media=tone%3Aring%3Btonezone%3Dcn"
        "&caller=%22%E6%9D%8E%22%20%3C1001%3E%26x%3D1 HTTP/1.1\r\n"
    )
    assert "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" in sent


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_again(
    serve,
) -> None:  # type: ignore[no-untyped-def]
    answered = 0

    async def reply(_head: bytes) -> bytes:
        nonlocal answered
        answered += 1
        return b"close" if answered == 2 else ok()  # the 2nd request finds its connection closed

    server = await serve(reply)
    http = pool(server)
    assert (await http.request("GET", "/a"))[0] == 200
    assert (await http.request("GET", "/b"))[0] == 200
    await http.close()
    assert server.connections == 2
    assert [h.split(b" ")[1] for h in server.heads] == [b"/ari/a", b"/ari/b", b"/ari/b"]


async def test_connection_close_and_chunked_answers(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(head: bytes) -> bytes:
        if b"/chunked" in head:
            return (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
            )
        return ok(b"bye", b"Connection: close\r\n")

    server = await serve(reply)
    http = pool(server)
    assert await http.request("GET", "/chunked") == (200, b"abcde")
    assert await http.request("GET", "/closing") == (200, b"bye")
    assert await http.request("GET", "/chunked") == (200, b"abcde")
    await http.close()
    assert server.connections == 2  # the one the server said it would close was not reused (it may)


async def test_a_silent_server_times_out_and_its_connection_is_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(head: bytes) -> bytes | None:
        return None if b"/slow" in head else ok()

    server = await serve(reply)
    http = pool(server, timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await http.request("GET", "/slow")
    assert (await http.request("GET", "/fast"))[0] == 200
    await http.close()
    assert server.connections == 2


async def test_a_cancelled_request_leaves_its_late_answer_to_nobody(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(head: bytes) -> bytes:
        if b"/slow" in head:
            await asyncio.sleep(0.2)
            return ok(b"slow")
        return ok(b"fast")

    server = await serve(reply)
    http = pool(server, limit=1)
    slow = asyncio.create_task(http.request("GET", "/slow"))
    await asyncio.sleep(0.05)
    slow.cancel()  # e.g. the call's session ended
    assert await http.request("GET", "/fast") == (200, b"fast")  # not the slow one's answer
    await asyncio.sleep(0.3)
    assert await http.request("GET", "/fast") == (200, b"fast")
    await http.close()
    assert slow.cancelled()


async def test_no_more_than_the_limit_of_connections_at_once(serve) -> None:  # type: ignore[no-untyped-def]
    async def reply(_head: bytes) -> bytes:
        await asyncio.sleep(0.02)
        return ok()

    server = await serve(reply)
    http = pool(server, limit=3)
    answers = await asyncio.gather(*(http.request("GET", f"/{i}") for i in range(12)))
    await http.close()
    assert [status for status, _ in answers] == [200] * 12
    assert server.connections == 3 and server.most_busy == 3


async def test_nobody_listening_is_one_clear_error() -> None:
    http = HttpPool("http://127.0.0.1:1/ari", "u", "p", 2, 1.0)
    with pytest.raises(HttpError, match="cannot connect to 127.0.0.1:1"):
        await http.request("GET", "/asterisk/ping")
    await http.close()
    with pytest.raises(HttpError, match="client closed"):
        await http.request("GET", "/asterisk/ping")
