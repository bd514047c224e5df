"""ARI REST requests over the event websocket: matching, timeouts, a closing websocket, the
choice of transport, against an in-process aiohttp server that plays Asterisk's ARI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog
from aiohttp import web

from callguard.ari.client import AriClient, AriError, AriGone
from callguard.ari.supervisor import AriSupervisor
from callguard.config import AriSettings, load_config
from callguard.metrics import REGISTRY
from tests.unit.test_config import ENV, problems, write

JSON = dict[str, Any]
# A guard against a hang, not a timing assertion: every wait below ends long before it.
GUARD_S = 10.0


@dataclass
class FakeAri:
    """Answers like Asterisk 22 (`takes_ws_requests`) or like an Asterisk that ignores what a
    client writes on the event websocket. `silent` uris are never answered; `close_on`
    closes the websocket; `answer_later` holds answers until released (out of order)."""

    takes_ws_requests: bool = True
    silent: set[str] = field(default_factory=set)
    close_on: str = ""
    ws_requests: list[JSON] = field(default_factory=list)
    http_requests: list[str] = field(default_factory=list)
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    events_allowed: list[JSON] = field(default_factory=list)  # the application's event filter
    url: str = ""

    def answer(self, method: str, uri: str, body: JSON | None) -> tuple[int, JSON | None]:
        if uri == "asterisk/ping":
            return 200, {"ping": "pong"}
        if uri.startswith("channels/gone"):
            return 404, {"message": "Channel not found"}
        if uri.startswith("bridges/bad"):
            return 500, {"message": "Unable to create bridge"}
        if method == "POST" and uri == "channels/create":
            return 200, {"id": "c1", "variables": (body or {}).get("variables")}
        if method == "GET" and uri == "applications/callguard":
            return 200, {"name": "callguard", "channel_ids": [], "events_allowed": self.events_allowed}
        if method == "PUT" and uri == "applications/callguard/eventFilter":
            self.events_allowed = (body or {})["allowed"]
        return 204, None

    def lets_through(self, event_type: str) -> bool:
        return not self.events_allowed or any(f["type"] == event_type for f in self.events_allowed)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(orjson.dumps({"type": "StasisStart", "channel": {"id": "x"}}).decode())
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and self.takes_ws_requests:
                asyncio.get_running_loop().create_task(self._on_request(ws, orjson.loads(msg.data)))
        return ws

    async def _on_request(self, ws: web.WebSocketResponse, req: JSON) -> None:
        self.ws_requests.append(req)
        uri = req["uri"]
        if uri == self.close_on:
            await ws.close()
            return
        if uri in self.silent:
            return
        if uri in self.held:
            await self.held[uri].wait()
        body = orjson.loads(req["message_body"]) if "message_body" in req else None
        status, answer = self.answer(req["method"], uri, body)
        if not self.lets_through("RESTResponse"):
            return  # Asterisk applies the event filter to answers too
        response: JSON = {"type": "RESTResponse", "request_id": req["request_id"], "status_code": status}
        if answer is not None:
            response["message_body"] = orjson.dumps(answer).decode()
        await ws.send_str(orjson.dumps(response).decode())

    async def http(self, request: web.Request) -> web.Response:
        uri = request.path.removeprefix("/ari/")
        self.http_requests.append(f"{request.method} {uri}")
        body = await request.json() if request.can_read_body else None
        status, answer = self.answer(request.method, uri, body)
        return web.json_response(answer, status=status) if answer is not None else web.Response(status=status)


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    fake = FakeAri()
    app = web.Application()
    app.router.add_get("/ari/events", fake.events)
    app.router.add_route("*", "/ari/{tail:.*}", fake.http)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def _client_over_ws(fake: FakeAri, timeout_s: float = 5.0) -> tuple[AriClient, asyncio.Task[None]]:
    """A client whose requests go over the websocket, with a reader as the supervisor's."""
    client = AriClient(fake.url, "callguard", "secret", "callguard", timeout_s)
    ws = await client.open_events()

    async def read() -> None:
        try:
            async for msg in ws:
                event = orjson.loads(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else {}
                if event.get("type") == "RESTResponse":
                    client.deliver_response(event)
        finally:
            client.websocket_closed()

    reader = asyncio.create_task(read())
    assert await client.use_websocket_requests(ws, 2.0)
    return client, reader


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not condition():
            await asyncio.sleep(0.01)


async def test_requests_go_over_the_websocket_with_params_and_body(fake_ari: FakeAri) -> None:
    client, reader = await _client_over_ws(fake_ari)
    before = REGISTRY.get_sample_value("callguard_ari_request_seconds_count", {"method": "POST"}) or 0.0
    created = await client.create_channel("PJSIP/1002", "c1", "outbound,x", "o1", {"A": "b c"})
    assert created == {"id": "c1", "variables": {"A": "b c"}}
    request = fake_ari.ws_requests[-1]
    assert request["method"] == "POST" and request["uri"] == "channels/create"
    assert {"name": "endpoint", "value": "PJSIP/1002"} in request["query_strings"]
    assert request["content_type"] == "application/json"
    await client.dial("c1", "c0", 30)
    assert {"name": "timeout", "value": "30"} in fake_ari.ws_requests[-1]["query_strings"]
    # Before the probe the application's event filter is read; nothing went over HTTP after it.
    assert fake_ari.http_requests == ["GET applications/callguard"]
    after = REGISTRY.get_sample_value("callguard_ari_request_seconds_count", {"method": "POST"})
    assert after == before + 2  # the per-method metric counts websocket requests too
    assert client.transport == "websocket"
    await client.close()
    reader.cancel()


async def test_errors_map_as_over_http(fake_ari: FakeAri) -> None:
    client, reader = await _client_over_ws(fake_ari)
    with pytest.raises(AriGone) as gone:
        await client.get_channel("gone-1")
    assert gone.value.status == 404
    with pytest.raises(AriError) as failed:
        await client.request("POST", "/bridges/bad-1")
    assert failed.value.status == 500 and "Unable to create bridge" in str(failed.value)
    assert await client.get_channel_var("gone-2", "X") is None  # AriGone -> not set
    await client.close()
    reader.cancel()


async def test_answers_are_matched_by_request_id_not_order(fake_ari: FakeAri) -> None:
    client, reader = await _client_over_ws(fake_ari)
    fake_ari.held["channels/first/answer"] = release = asyncio.Event()
    first = asyncio.create_task(client.request("POST", "/channels/first/answer"))
    await _until(lambda: len(fake_ari.ws_requests) == 2)
    # The second is answered while the first is still held.
    assert await client.request("GET", "/asterisk/ping") == {"ping": "pong"}
    assert not first.done()
    release.set()
    assert await first is None
    await client.close()
    reader.cancel()


async def test_a_request_not_answered_in_time_fails_and_a_late_answer_is_dropped(fake_ari: FakeAri) -> None:
    client, reader = await _client_over_ws(fake_ari, timeout_s=0.2)
    fake_ari.held["channels/slow/ring"] = release = asyncio.Event()
    with pytest.raises(AriError, match="no answer on the websocket"):
        await client.ring("slow")
    release.set()  # the late answer arrives and matches nothing
    await _until(lambda: len(fake_ari.ws_requests) == 2)
    assert await client.request("GET", "/asterisk/ping") == {"ping": "pong"}
    await client.close()
    reader.cancel()


async def test_a_closing_websocket_fails_every_pending_request_at_once(fake_ari: FakeAri) -> None:
    # A long request timeout: only the close can end these requests before the guard.
    client, reader = await _client_over_ws(fake_ari, timeout_s=60)
    fake_ari.silent = {"channels/a/answer", "channels/b/answer"}
    fake_ari.close_on = "channels/c/answer"
    pending = [asyncio.create_task(client.answer(c)) for c in ("a", "b")]
    await _until(lambda: len(fake_ari.ws_requests) == 3)
    closing = asyncio.create_task(client.answer("c"))
    async with asyncio.timeout(GUARD_S):
        results = await asyncio.gather(*pending, closing, return_exceptions=True)
    assert all(isinstance(r, AriError) and "websocket closed" in str(r) for r in results)
    with pytest.raises(AriError, match="websocket closed"):  # later ones fail without waiting
        await asyncio.wait_for(client.answer("d"), GUARD_S)
    await client.close()
    reader.cancel()


def _settings(fake: FakeAri, **overrides: Any) -> AriSettings:
    values: JSON = {
        "url": fake.url,
        "password": "secret",
        "request_timeout_s": 1.0,
        "ping_interval_s": 0.1,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.1,
        "transport": "auto",  # what these tests are about (the default is http)
    }
    return AriSettings(**(values | overrides))


async def _supervise(
    settings: AriSettings,
    until: Callable[[list[JSON]], bool],
    act: Callable[[AriSupervisor], Awaitable[None]],
    events: list[JSON] | None = None,
) -> tuple[list[JSON], list[JSON]]:
    """Run a supervisor until `until(logs)`, then `act` on it; the events it handed on, its logs."""
    events = [] if events is None else events

    async def connected(_: AriClient) -> None:
        return None

    supervisor = AriSupervisor(settings, events.append, connected)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(supervisor.run())
        try:
            await _until(lambda: until(logs))
            await act(supervisor)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return events, logs


def _logged(event: str, **fields: Any) -> Callable[[list[JSON]], bool]:
    return lambda logs: any(e["event"] == event and fields.items() <= e.items() for e in logs)


async def _ping(supervisor: AriSupervisor) -> None:
    await supervisor.client.ping()


async def test_auto_uses_the_websocket_when_asterisk_answers_there(fake_ari: FakeAri) -> None:
    events, _ = await _supervise(_settings(fake_ari), _logged("ari.connected", transport="websocket"), _ping)
    # The connect check and the event filter's are over HTTP; the probe and the ping on the websocket.
    assert fake_ari.http_requests == ["GET asterisk/ping", "GET applications/callguard"]
    assert [r["uri"] for r in fake_ari.ws_requests[:2]] == ["asterisk/ping", "asterisk/ping"]
    assert events and all(e["type"] == "StasisStart" for e in events)  # no RESTResponse


async def test_auto_falls_back_to_http_when_asterisk_ignores_the_probe(fake_ari: FakeAri) -> None:
    fake_ari.takes_ws_requests = False
    await _supervise(_settings(fake_ari), _logged("ari.connected", transport="http"), _ping)
    assert fake_ari.http_requests == ["GET asterisk/ping", "GET applications/callguard", "GET asterisk/ping"]


async def test_transport_http_sends_no_probe(fake_ari: FakeAri) -> None:
    await _supervise(_settings(fake_ari, transport="http"), _logged("ari.connected", transport="http"), _ping)
    assert fake_ari.ws_requests == [] and fake_ari.http_requests == ["GET asterisk/ping"] * 2


async def test_transport_websocket_refuses_an_asterisk_without_it(fake_ari: FakeAri) -> None:
    fake_ari.takes_ws_requests = False

    async def nothing(_: AriSupervisor) -> None:
        return None

    _, logs = await _supervise(
        _settings(fake_ari, transport="websocket"), _logged("ari.connect_failed"), nothing
    )
    failed = next(e for e in logs if e["event"] == "ari.connect_failed")
    assert "transport = websocket" in failed["error"]
    assert not any(e["event"] == "ari.connected" for e in logs)


async def test_pings_unanswered_on_the_websocket_drop_the_connection(fake_ari: FakeAri) -> None:
    """A hung Asterisk keeps its TCP session: the ping over the websocket notices."""

    async def hang(_: AriSupervisor) -> None:
        fake_ari.silent = {"asterisk/ping"}
        await _until(lambda: any(s.closed for s in fake_ari.sockets))

    settings = _settings(fake_ari, request_timeout_s=0.2, ping_interval_s=0.05)
    _, logs = await _supervise(settings, _logged("ari.connected", transport="websocket"), hang)
    assert sum(e["event"] == "ari.ping_failed" for e in logs) >= 2


async def test_a_frame_that_is_not_json_is_logged_and_skipped(fake_ari: FakeAri) -> None:
    events: list[JSON] = []

    async def bad_frame(supervisor: AriSupervisor) -> None:
        await fake_ari.sockets[0].send_str("{not json")
        await fake_ari.sockets[0].send_str(orjson.dumps({"type": "StasisEnd"}).decode())
        await _until(lambda: len(events) >= 2)
        await supervisor.client.ping()  # the reader still delivers answers

    _, logs = await _supervise(_settings(fake_ari), _logged("ari.connected"), bad_frame, events)
    assert any(e["event"] == "ari.bad_event" for e in logs)
    assert [e["type"] for e in events] == ["StasisStart", "StasisEnd"]


async def test_the_event_filter_always_lets_answers_through(fake_ari: FakeAri) -> None:
    """Asterisk filters RESTResponse like an event, and a filter outlives the connection."""
    client, reader = await _client_over_ws(fake_ari)
    await client.filter_events(["StasisStart", "StasisEnd"])
    body = orjson.loads(fake_ari.ws_requests[-1]["message_body"])
    assert body == {"allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}, {"type": "RESTResponse"}]}
    await client.close()
    reader.cancel()


def test_transport_setting(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, '[ari]\ntransport = "http"\n'), ENV).ari.transport == "http"
    assert load_config(write(tmp_path, "[ari]\n"), ENV).ari.transport == "http"
    path = write(tmp_path, '[ari]\ntransport = "ws"\n')
    [problem] = problems(path)
    assert problem.startswith(f"{path}: ari.transport: ") and "'websocket'" in problem


async def test_an_event_filter_left_without_answers_is_widened_before_the_probe(fake_ari: FakeAri) -> None:
    fake_ari.events_allowed = [{"type": "StasisStart"}]  # as an older callguard left it
    await _supervise(_settings(fake_ari), _logged("ari.connected", transport="websocket"), _ping)
    assert fake_ari.events_allowed == [{"type": "StasisStart"}, {"type": "RESTResponse"}]
