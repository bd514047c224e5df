"""Messages in the console (XFER-3, LOG-3, SEC-2): the person a message is for reads it (the
caller's number masked), plays it in the browser from the recording Asterisk stored (audited),
and marks it passed on once; others see only what their role allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callguard.store.audit import list_entries
from tests.integration.console_records import MESSAGE_RECORDING, Console, console


@pytest.fixture
async def cons(tmp_path: Path) -> AsyncIterator[Console]:
    async for made in console(tmp_path):
        yield made


async def _messages(cons: Console, who: str, **params: str) -> list[dict[str, Any]]:
    async with cons.client(who) as client:
        response = await client.get("/api/v1/messages", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_messages_by_role_with_the_callers_number_masked(cons: Console) -> None:
    (mine,) = await _messages(cons, "chen.jie")
    assert (mine["for_ext"], mine["for_person"], mine["caller"], mine["duration_s"]) == (
        "1003", "chen.jie", "138****1111", 4.5,
    )  # fmt: skip
    assert await _messages(cons, "liu.yang") == []  # sales' head: not an admin line's message
    assert [m["caller"] for m in await _messages(cons, "he.gang")] == ["13800001111"]  # auditor
    assert len(await _messages(cons, "wang.li")) == 1
    async with cons.client("zhao.min") as client:
        assert (await client.get("/api/v1/messages")).status_code == 403
    browser, _csrf = await cons.browser("chen.jie")
    async with browser:
        page = (await browser.get("/messages")).text
    ident = mine["id"]
    assert (
        f'data-message-id="{ident}"' in page
        and f'<audio controls preload="none" src="/messages/{ident}/audio">' in page
    )
    assert "13800001111" not in page


async def test_playing_a_message_serves_its_recording_and_is_audited(cons: Console) -> None:
    (message,) = await _messages(cons, "chen.jie")
    browser, _csrf = await cons.browser("chen.jie")
    async with browser:
        audio = await browser.get(f"/messages/{message['id']}/audio")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    stored = Path(cons.config.console.recordings_dir) / MESSAGE_RECORDING
    assert audio.content == stored.read_bytes()
    assert audio.headers["cache-control"] == "private, no-store"
    async with cons.client("liu.yang") as client:
        assert (await client.get(f"/api/v1/messages/{message['id']}/audio")).status_code in (403, 404)
    (played,) = await list_entries(cons.engine, account="chen.jie", action="messages.play")
    assert (played["filters"], played["count"]) == ({"id": str(message["id"])}, 1)
    stored.unlink()  # gone from the spool: a clear answer, and the attempt is audited
    async with cons.client("chen.jie") as client:
        gone = await client.get(f"/api/v1/messages/{message['id']}/audio")
    assert gone.status_code == 404 and MESSAGE_RECORDING in gone.json()["detail"]


async def test_a_message_is_passed_on_once(cons: Console) -> None:
    (message,) = await _messages(cons, "chen.jie")
    ident = message["id"]
    # The auditor reads it but only the recipient (or an admin) passes it on; the head of sales
    # may not even read it: for him it does not exist (404, LOG-3).
    for reader, status in (("he.gang", 403), ("liu.yang", 404)):
        async with cons.client(reader) as client:
            assert (await client.post(f"/api/v1/messages/{ident}/passed-on")).status_code == status
    browser, csrf = await cons.browser("chen.jie")
    async with browser:
        assert (await browser.post(f"/messages/{ident}/passed-on")).status_code == 403  # no CSRF token
        sent = await browser.post(f"/messages/{ident}/passed-on", data={"csrf": csrf})
        assert sent.status_code == 303 and sent.headers["location"] == "/messages"
    (done,) = await _messages(cons, "chen.jie", state="passed_on")
    assert done["passed_on_by"] == "chen.jie" and done["passed_on"]
    assert await _messages(cons, "chen.jie", state="open") == []
    async with cons.client("chen.jie") as client:
        again = await client.post(f"/api/v1/messages/{ident}/passed-on")
    assert again.status_code == 409
    actions = [e["action"] for e in await list_entries(cons.engine, account="chen.jie")]
    assert actions.count("messages.passed_on") == 2


async def test_probing_a_message_id_looks_like_an_absent_one_and_is_audited(cons: Console) -> None:
    """LOG-3 (review F7): 周强 may not read 陈杰's message: playing it or passing it on answers
    exactly as for a message that does not exist, and each attempt is audited with count 0."""
    (message,) = await _messages(cons, "chen.jie")
    ident = message["id"]
    answers = []
    async with cons.client("zhou.qiang") as client:
        for target in (ident, 9999):
            for method, url in (
                ("GET", "/api/v1/messages/{}/audio"),
                ("POST", "/api/v1/messages/{}/passed-on"),
            ):
                response = await client.request(method, url.format(target))
                answers.append((response.status_code, response.json()["detail"].replace(str(target), "N")))
    assert answers[:2] == answers[2:] and {status for status, _ in answers} == {404}
    entries = await list_entries(cons.engine, account="zhou.qiang")
    assert [(e["action"], e["filters"], e["count"]) for e in reversed(entries)] == [
        ("messages.play", {"id": str(ident)}, 0),
        ("messages.passed_on", {"id": str(ident)}, 0),
        ("messages.play", {"id": "9999"}, 0),
        ("messages.passed_on", {"id": "9999"}, 0),
    ]
    async with cons.client("he.gang") as auditor:  # reads it; passing it on is refused, audited
        assert (await auditor.post(f"/api/v1/messages/{ident}/passed-on")).status_code == 403
    (refusal,) = await list_entries(cons.engine, account="he.gang", action="messages.refused")
    assert refusal["filters"] == {"id": str(ident), "path": f"/api/v1/messages/{ident}/passed-on"}
    assert refusal["count"] == 0


async def test_the_messages_page_shows_a_fixed_text_never_the_querys(cons: Console) -> None:
    """?problem= carries a code the page maps to its own text; a link's own words never show."""
    (message,) = await _messages(cons, "chen.jie")
    browser, csrf = await cons.browser("chen.jie")
    async with browser:
        await browser.post(f"/messages/{message['id']}/passed-on", data={"csrf": csrf})
        again = await browser.post(f"/messages/{message['id']}/passed-on", data={"csrf": csrf})
        assert again.status_code == 303 and again.headers["location"] == "/messages?problem=already_passed_on"
        page = (await browser.get(again.headers["location"])).text
        assert "That message was already passed on." in page
        bait = "Your account is locked: call 400-000-0000"
        forged = (await browser.get("/messages", params={"problem": bait})).text
    assert "locked" not in forged and 'id="messages-problem"' not in forged
