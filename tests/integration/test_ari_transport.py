"""How callguard's ARI requests reach the lab's Asterisk 22: on the event websocket by default,
over HTTP with `[ari] transport = "http"`. Asterisk's own ARI debug output tells the two
apart: a REST request on the websocket is logged as a received `RESTRequest` message, one
over HTTP as an `ARI request received` with its method and path."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from callguard.lab import Lab
from tests.integration.harness import Harness, callguard_log, now

pytestmark = pytest.mark.lab

WS_REQUEST = re.compile(r'"type": "RESTRequest",.*?"method": "(\w+)",\s*"uri": "([^"]+)"', re.S)
HTTP_REQUEST = re.compile(r"ARI request received from: [^\n]*\n(\w+) (\S+)")


@contextmanager
def ari_debug_log(lab: Lab) -> Iterator[list[str]]:
    """Asterisk's ARI debug output while the block runs, in a log channel of its own; the
    list holds the text once the block has ended."""
    assert lab.state is not None
    name = f"ari-debug-{uuid.uuid4().hex[:8]}.log"
    text: list[str] = []
    lab.asterisk_rx(f"logger add channel {name} verbose")
    lab.asterisk_rx("ari set debug all on")
    try:
        yield text
    finally:
        lab.asterisk_rx("ari set debug all off")
        lab.asterisk_rx(f"logger remove channel {name}")
        path = Path(lab.state.asterisk_run_dir) / "log" / name
        text.append(path.read_text(errors="replace") if path.exists() else "")


def requests_seen(debug_log: str) -> tuple[set[str], set[str]]:
    """(requests on the websocket, requests over HTTP) as "METHOD resource" with ids cut out:
    `POST bridges/*/addChannel`."""

    def shape(method: str, uri: str) -> str:
        parts = uri.split("?")[0].strip("/").split("/")
        parts = [p if i % 2 == 0 or p in ("create",) else "*" for i, p in enumerate(parts)]
        return f"{method} {'/'.join(parts)}"

    ws = {shape(m, u) for m, u in WS_REQUEST.findall(debug_log)}
    http = {shape(m, u.removeprefix("/ari")) for m, u in HTTP_REQUEST.findall(debug_log)}
    return ws, http


def connections(lab: Lab) -> list[str]:
    """The transport of each ARI connection callguard has made in this lab, in order."""
    return [str(e.get("transport")) for e in callguard_log(lab) if e.get("event") == "ari.connected"]


async def transport_after(lab: Lab, earlier: int, timeout: float = 20.0) -> str:
    """The transport of the first connection after the `earlier` ones (Asterisk lists the
    application as soon as the websocket is open, a moment before the transport is chosen)."""
    deadline = time.monotonic() + timeout
    while len(seen := connections(lab)) <= earlier:
        assert time.monotonic() < deadline, "callguard did not log ari.connected"
        await asyncio.sleep(0.1)
    return seen[earlier]


async def answered_call(harness: Harness, caller: str, callee: str) -> None:
    t0 = now()
    phone = await harness.phone(callee, "answer", answer_after_ms=200)
    call = await harness.dial(caller, callee, talk_ms=500)
    assert await call.wait() == 0 and await phone.wait() == 0
    assert call.saw("ANSWERED") and phone.saw("BYE_RECEIVED")
    record = await harness.wait_record(t0, callee)
    assert record["disposition"] == "answered" and record["decisions"][0]["action"] == "route"
    await harness.wait_clean()


# The requests every answered internal call makes: the callee's leg, its dial, the bridge.
CALL_REQUESTS = {
    "POST channels/create",
    "POST channels/*/dial",
    "POST bridges/*",
    "POST bridges/*/addChannel",
}


async def test_a_call_is_controlled_over_the_event_websocket(harness: Harness, lab: Lab) -> None:
    async with ari_transport(lab, "auto") as transport:
        assert transport == "websocket"
        with ari_debug_log(lab) as debug:
            await answered_call(harness, "1001", "1002")
    on_websocket, over_http = requests_seen(debug[0])
    assert on_websocket >= CALL_REQUESTS
    assert not CALL_REQUESTS & over_http


@asynccontextmanager
async def ari_transport(lab: Lab, transport: str) -> AsyncIterator[str]:
    """callguard restarted with `[ari] transport` set (yields the transport it connected with);
    the lab's own config back afterwards."""
    assert lab.state is not None
    config = Path(lab.state.config_path)
    original = config.read_text()
    config.write_text(original.replace("[ari]\n", f'[ari]\ntransport = "{transport}"\n', 1))
    try:
        lab.stop_controller()
        earlier = len(connections(lab))
        lab.start_controller()
        yield await transport_after(lab, earlier)
    finally:
        config.write_text(original)
        lab.stop_controller()
        lab.start_controller()


async def test_calls_go_over_http_by_default(harness: Harness, lab: Lab) -> None:
    assert await transport_after(lab, 0) == "http"
    assert connections(lab)[-1] == "http"
    with ari_debug_log(lab) as debug:
        await answered_call(harness, "1003", "2003")
    on_websocket, over_http = requests_seen(debug[0])
    assert over_http >= CALL_REQUESTS
    assert not on_websocket
