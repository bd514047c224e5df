"""Call records in the console (LOG-3, SEC-2): the search and a call's whole story by role, the
same rows in JSON, CSV and the page, masking in each, and an audit entry for every read; over a
real SQLite database filled by the real writer."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callguard.store.audit import list_entries
from callguard.store.models import CallRow
from tests.integration.console_records import CARRIER_NUMBER, OUTSIDE, Console, console


@pytest.fixture
async def cons(tmp_path: Path) -> AsyncIterator[Console]:
    async for made in console(tmp_path):
        yield made


async def _calls(cons: Console, who: str, **params: str) -> list[dict[str, Any]]:
    async with cons.client(who) as client:
        response = await client.get("/api/v1/calls", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_each_role_finds_only_the_calls_it_may_read(cons: Console) -> None:
    every = {"internal-1", "inbound-2", "outbound-3", "outbound-4", "message-5"}
    assert {r["call_id"] for r in await _calls(cons, "wang.li")} == every  # admin
    assert {r["call_id"] for r in await _calls(cons, "he.gang")} == every  # auditor
    assert {r["call_id"] for r in await _calls(cons, "zhao.min")} == every  # finance
    # 刘洋 heads sales: the call for him and 周强's; not admin's calls.
    assert {r["call_id"] for r in await _calls(cons, "liu.yang")} == {"inbound-2", "outbound-4"}
    # 陈杰: his own calls (called, calling, a message for him).
    assert {r["call_id"] for r in await _calls(cons, "chen.jie")} == {"internal-1", "outbound-3", "message-5"}
    async with cons.client("ma.lin") as client:  # operations: the wallboard only
        assert (await client.get("/api/v1/calls")).status_code == 403


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["call_id"] for r in rows}


async def test_search_filters(cons: Console) -> None:
    assert ids(await _calls(cons, "wang.li", direction="outbound")) == {"outbound-3", "outbound-4"}
    assert ids(await _calls(cons, "wang.li", rule="OUT-1")) == {"outbound-4"}  # a violation
    assert ids(await _calls(cons, "wang.li", rule="OUT-3")) == {"outbound-3"}  # a decision's rule
    assert ids(await _calls(cons, "wang.li", person="chen.jie")) == {"internal-1", "outbound-3", "message-5"}
    assert ids(await _calls(cons, "wang.li", department="sales")) == {"inbound-2", "outbound-4"}
    assert ids(await _calls(cons, "wang.li", disposition="message")) == {"message-5"}
    assert ids(await _calls(cons, "wang.li", number=OUTSIDE)) == {"inbound-2"}
    # A head's filter never widens the scope.
    assert ids(await _calls(cons, "liu.yang", department="admin")) == set()
    rows = await _calls(cons, "wang.li")
    started = sorted(r["started"] for r in rows)
    since = started[2][:19]  # local time, as the page's datetime-local sends it
    assert len(await _calls(cons, "wang.li", **{"from": since})) == 3
    assert len(await _calls(cons, "wang.li", to=since)) == 2


async def test_bad_filters_and_outside_number_searches_are_refused(cons: Console) -> None:
    async with cons.client("wang.li") as client:
        response = await client.get("/api/v1/calls", params={"from": "yesterday"})
        assert response.status_code == 400 and response.json()["detail"].startswith("from: ")
        assert (await client.get("/api/v1/calls", params={"rule": "x; drop"})).status_code == 400
    # SEC-2: finance sees numbers masked, so cannot probe whether an outside number called.
    async with cons.client("zhao.min") as client:
        response = await client.get("/api/v1/calls", params={"number": OUTSIDE})
        assert response.status_code == 400 and "SEC-2" in response.json()["detail"]
        assert (await client.get("/api/v1/calls", params={"number": "1003"})).status_code == 200
    probe, allowed = reversed(await list_entries(cons.engine, account="zhao.min"))  # the probe is audited
    assert (probe["action"], probe["filters"], probe["count"]) == (
        "calls.refused", {"number": OUTSIDE, "path": "/api/v1/calls"}, 0,
    )  # fmt: skip
    assert (allowed["action"], allowed["filters"]) == ("calls.list", {"number": "1003"})


async def test_numbers_are_masked_in_json_csv_and_page(cons: Console) -> None:
    masked = "138****8000"
    inbound = next(r for r in await _calls(cons, "zhao.min") if r["call_id"] == "inbound-2")
    assert inbound["caller"] == masked and inbound["callee"] == "2003"  # extensions stay readable
    async with cons.client("zhao.min") as client:
        text = (await client.get("/calls.csv")).content.decode("utf-8-sig")
    assert masked in text and OUTSIDE not in text and CARRIER_NUMBER not in text
    browser, _csrf = await cons.browser("zhao.min")
    async with browser:
        page = (await browser.get("/calls")).text
    assert masked in page and OUTSIDE not in page
    assert 'id="calls"' in page and 'data-call-id="inbound-2"' in page
    admin = next(r for r in await _calls(cons, "wang.li") if r["call_id"] == "inbound-2")
    assert admin["caller"] == OUTSIDE  # admins see numbers (config: unmasked_roles)


async def test_the_calls_page_pages_newest_first(cons: Console) -> None:
    browser, _csrf = await cons.browser("wang.li")
    async with browser:
        first = (await browser.get("/calls", params={"direction": "outbound", "limit": "1"})).text
        older = (
            await browser.get("/calls", params={"direction": "outbound", "limit": "1", "offset": "1"})
        ).text
    assert 'data-call-id="outbound-4"' in first and 'data-call-id="outbound-3"' not in first
    assert 'href="/calls?direction=outbound&amp;limit=1&amp;offset=1"' in first  # the filters kept
    assert 'data-call-id="outbound-3"' in older


async def test_csv_has_the_same_rows_as_json(cons: Console) -> None:
    rows = await _calls(cons, "he.gang")
    async with cons.client("he.gang") as client:
        response = await client.get("/calls.csv")
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["call_id"] for r in table] == [r["call_id"] for r in rows]
    cost = next(r for r in table if r["call_id"] == "outbound-3")
    assert cost["cost_yuan"] == "0.44" and cost["matter"] == "42"


async def _sampled(cons: Console) -> None:
    """LOG-6: outbound-3 was sampled for supervision."""
    async with cons.engine.begin() as conn:
        await conn.execute(
            update(CallRow).where(CallRow.call_id == "outbound-3").values(recording="supervision-3.wav")
        )


async def test_csv_cells_never_run_as_formulas(cons: Console) -> None:
    """A caller ID's name is the caller's to choose: in Excel it must stay text."""
    evil = '=HYPERLINK("http://evil.example","click")'
    async with cons.engine.begin() as conn:
        await conn.execute(update(CallRow).where(CallRow.call_id == "inbound-2").values(caller_name=evil))
    async with cons.client("wang.li") as client:
        response = await client.get("/calls.csv")
    (row,) = [
        r
        for r in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
        if r["call_id"] == "inbound-2"
    ]
    assert row["caller_name"] == "'" + evil
    assert (
        next(r for r in await _calls(cons, "wang.li") if r["call_id"] == "inbound-2")["caller_name"] == evil
    )


async def test_a_calls_whole_story(cons: Console) -> None:
    await _sampled(cons)
    async with cons.client("wang.li") as client:
        inbound = (await client.get("/api/v1/calls/node1/inbound-2")).json()
        outbound = (await client.get("/api/v1/calls/node1/outbound-3")).json()
        premium = (await client.get("/api/v1/calls/node1/outbound-4")).json()
        message = (await client.get("/api/v1/calls/node1/message-5")).json()
    assert [leg["number"] for leg in inbound["legs"]] == [OUTSIDE, "2001", "2003"]
    assert [leg["rings_at_answer"] for leg in inbound["legs"]] == [None, None, 1]
    assert inbound["rings"] == 1 and inbound["prompts"] == ["greeting_sales"]
    assert inbound["decisions"][0]["rule"] == "ANS-3"
    (late,) = inbound["violations"]
    assert (late["rule"], late["person"], late["step"], late["status"]) == (
        "ANS-1", "liu.yang", "verbal_warning", "open",
    )  # fmt: skip
    assert (outbound["cost_yuan"], outbound["matter"], outbound["tariff"]) == ("0.44", "42", "mobile")
    assert premium["prompts"] == ["premium_refused"] and premium["violations"][0]["rule"] == "OUT-1"
    assert outbound["recording_audio"].startswith("/recordings/") and premium["recording_audio"] is None
    assert message["message"]["for_person"] == "chen.jie" and message["message"]["duration_s"] == 4.5


async def test_a_story_is_masked_and_scoped(cons: Console) -> None:
    await _sampled(cons)
    async with cons.client("chen.jie") as client:
        mine = (await client.get("/api/v1/calls/node1/outbound-3")).json()
        other = await client.get("/api/v1/calls/node1/inbound-2")
    assert mine["dialed"] == "139****5678" and mine["decisions"][0]["number"] == "139****5678"
    assert mine["recording_audio"] is None  # LOG-3: no supervision recording for employees
    assert CARRIER_NUMBER not in str(mine)
    assert other.status_code == 404  # not among his calls: no hint that it exists
    browser, _csrf = await cons.browser("chen.jie")
    async with browser:
        page = (await browser.get("/calls/node1/outbound-3")).text
    assert "139****5678" in page and CARRIER_NUMBER not in page and "OUT-3" in page


async def test_every_read_is_audited_with_filters_and_count(cons: Console) -> None:
    await _calls(cons, "liu.yang", direction="inbound")
    async with cons.client("liu.yang") as client:
        await client.get("/calls.csv")
        await client.get("/api/v1/calls/node1/inbound-2")
        await client.get("/api/v1/calls/node1/internal-1")  # not his department's
    entries = await list_entries(cons.engine, account="liu.yang")
    got = [(e["action"], e["count"]) for e in reversed(entries)]
    assert got == [("calls.list", 1), ("calls.export", 2), ("calls.read", 1), ("calls.read", 0)]
    first = entries[-1]
    assert first["filters"] == {"direction": "inbound"} and first["role"] == "head"
    assert first["address"] == "127.0.0.9"
    async with cons.client("ma.lin") as client:
        await client.get("/api/v1/calls")
    (refused,) = await list_entries(cons.engine, account="ma.lin")
    assert refused["action"] == "calls.refused"


async def test_a_story_shows_only_the_violations_and_message_the_viewer_may_read(cons: Console) -> None:
    """LOG-3 (review F2): a call's story and its rules column carry the call's violations and
    message only as far as the viewer's violations and messages scope reach, as /violations
    and /messages do; the rule search does not find a violation the viewer may not read."""
    async with cons.client("zhou.qiang") as client:  # answered inbound-2; the ANS-1 is 刘洋's
        story = (await client.get("/api/v1/calls/node1/inbound-2")).json()
    assert story["violations"] == [] and "ANS-1" not in story["rules"].split()
    assert story["rules"] == "ANS-3"  # the routing decision's rule stays: it is the call's
    (row,) = [r for r in await _calls(cons, "zhou.qiang") if r["call_id"] == "inbound-2"]
    assert row["rules"] == "ANS-3"
    assert ids(await _calls(cons, "zhou.qiang", rule="ANS-1")) == set()
    assert ids(await _calls(cons, "liu.yang", rule="ANS-1")) == {"inbound-2"}  # his own: he reads it
    async with cons.client("zhao.min") as client:  # finance: calls and costs; no violations, messages
        premium = (await client.get("/api/v1/calls/node1/outbound-4")).json()
        message = (await client.get("/api/v1/calls/node1/message-5")).json()
    assert premium["violations"] == [] and message["message"] is None
    assert ids(await _calls(cons, "zhao.min", rule="OUT-1")) == {"outbound-4"}  # the refusal's rule
    browser, _csrf = await cons.browser("zhao.min")
    async with browser:
        page = (await browser.get("/calls/node1/message-5")).text
    assert 'id="call-message"' not in page
    async with cons.client("he.gang") as client:  # the auditor reads all of it
        message = (await client.get("/api/v1/calls/node1/message-5")).json()
    assert message["message"]["for_person"] == "chen.jie"
