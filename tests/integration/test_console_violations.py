"""Violations and appeals in the console (LOG-5, LOG-3): each role reads the violations it may,
the person named appeals within the window (refused after it, with the reason), an administrator
decides with a reason; forms need the session's CSRF token; every read and change is audited."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callguard.policy.ladder import Ladder
from callguard.store import write_records
from callguard.store.audit import list_entries
from callguard.store.models import ViolationRow
from tests.integration.console_records import REPO, Console, admins_own_violation, console


@pytest.fixture
async def cons(tmp_path: Path) -> AsyncIterator[Console]:
    async for made in console(tmp_path):
        yield made


async def _violations(cons: Console, who: str, **params: str) -> list[dict[str, Any]]:
    async with cons.client(who) as client:
        response = await client.get("/api/v1/violations", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def _premium(cons: Console) -> int:
    (row,) = await _violations(cons, "wang.li", rule="OUT-1")
    return int(row["id"])


async def test_each_role_reads_the_violations_it_may(cons: Console) -> None:
    assert {v["rule"] for v in await _violations(cons, "wang.li")} == {"ANS-1", "OUT-1"}
    assert {v["rule"] for v in await _violations(cons, "liu.yang")} == {"ANS-1", "OUT-1"}  # sales' head
    assert [v["rule"] for v in await _violations(cons, "zhou.qiang")] == ["OUT-1"]  # his own
    assert await _violations(cons, "chen.jie") == []
    (premium,) = await _violations(cons, "zhou.qiang")
    assert (premium["step"], premium["status"], premium["fine_yuan"]) == ("fine", "open", "50.00")
    assert date.fromisoformat(premium["appeal_by"]) >= date.today()
    async with cons.client("zhao.min") as client:  # finance: costs, not violations
        assert (await client.get("/api/v1/violations")).status_code == 403


async def test_the_person_appeals_once_and_an_admin_decides(cons: Console) -> None:
    ident = await _premium(cons)
    async with cons.client("liu.yang") as head:  # not his violation, though he may read it
        response = await head.post(f"/api/v1/violations/{ident}/appeal", json={"reason": "for him"})
        assert response.status_code == 403
    async with cons.client("zhou.qiang") as client:
        empty = await client.post(f"/api/v1/violations/{ident}/appeal", json={"reason": " "})
        assert empty.status_code == 409 and "reason" in empty.json()["detail"]
        done = await client.post(
            f"/api/v1/violations/{ident}/appeal", json={"reason": "I dialled a wrong number"}
        )
        assert done.status_code == 200 and done.json()["status"] == "appealed"
        again = await client.post(f"/api/v1/violations/{ident}/appeal", json={"reason": "again"})
        assert again.status_code == 409 and "appealed once" in again.json()["detail"]
    async with cons.client("he.gang") as auditor:
        response = await auditor.post(
            f"/api/v1/violations/{ident}/decision", json={"decision": "overturn", "reason": "x"}
        )
        assert response.status_code == 403
    async with cons.client("wang.li") as admin:
        bad = await admin.post(
            f"/api/v1/violations/{ident}/decision", json={"decision": "maybe", "reason": "x"}
        )
        assert bad.status_code == 400
        silent = await admin.post(f"/api/v1/violations/{ident}/decision", json={"decision": "overturn"})
        assert silent.status_code == 409 and "reason" in silent.json()["detail"]
        decided = await admin.post(
            f"/api/v1/violations/{ident}/decision",
            json={"decision": "overturn", "reason": "a misdial, not premium"},
        )
        assert decided.status_code == 200 and decided.json()["status"] == "overturned"
    (seen,) = await _violations(cons, "zhou.qiang")
    assert (seen["status"], seen["appeal_reason"]) == ("overturned", "I dialled a wrong number")
    assert (seen["decided_by"], seen["decision_reason"]) == ("wang.li", "a misdial, not premium")
    actions = [e["action"] for e in reversed(await list_entries(cons.engine))]
    assert "violations.appeal" in actions and "violations.overturn" in actions


async def test_an_appeal_after_the_deadline_is_refused_with_the_reason(cons: Console) -> None:
    ident = await _premium(cons)
    async with cons.engine.begin() as conn:
        await conn.execute(
            update(ViolationRow)
            .where(ViolationRow.id == ident)
            .values(appeal_by=date.today() - timedelta(days=1))
        )
    async with cons.client("zhou.qiang") as client:
        late = await client.post(f"/api/v1/violations/{ident}/appeal", json={"reason": "late"})
    assert (
        late.status_code == 409
        and "deadline" in late.json()["detail"]
        and "has passed" in late.json()["detail"]
    )
    (entry, *_rest) = await list_entries(
        cons.engine, account="zhou.qiang", action="violations.appeal_refused"
    )
    assert entry["filters"] == {"id": str(ident)}


async def test_the_appeal_form_needs_the_sessions_csrf_token(cons: Console) -> None:
    ident = await _premium(cons)
    browser, csrf = await cons.browser("zhou.qiang")
    async with browser:
        page = (await browser.get("/violations")).text
        assert f'data-violation-id="{ident}"' in page and f'action="/violations/{ident}/appeal"' in page
        forged = await browser.post(f"/violations/{ident}/appeal", data={"reason": "forged"})
        assert forged.status_code == 403
        assert (await _violations(cons, "zhou.qiang"))[0]["status"] == "open"
        sent = await browser.post(
            f"/violations/{ident}/appeal", data={"reason": "wrong number", "csrf": csrf}
        )
        assert sent.status_code == 303 and sent.headers["location"] == f"/violations?done={ident}"
        page = (await browser.get("/violations")).text
        assert f'action="/violations/{ident}/appeal"' not in page  # appealed: no second form
    admin, admin_csrf = await cons.browser("wang.li")
    async with admin:
        page = (await admin.get("/violations")).text
        assert f'action="/violations/{ident}/decision"' in page
        assert "appeal: wrong number" in page  # the administrator reads the appeal before deciding
        sent = await admin.post(
            f"/violations/{ident}/decision",
            data={"decision": "uphold", "reason": "premium is premium", "csrf": admin_csrf},
        )
        assert sent.status_code == 303
    assert (await _violations(cons, "zhou.qiang"))[0]["status"] == "upheld"


async def test_violation_reads_are_audited_with_filters(cons: Console) -> None:
    await _violations(cons, "liu.yang", rule="ANS-1")
    async with cons.client("liu.yang") as client:
        text = (await client.get("/violations.csv")).content.decode("utf-8-sig")
    assert "ANS-1" in text and "OUT-1" in text
    entries = list(reversed(await list_entries(cons.engine, account="liu.yang")))
    assert [(e["action"], e["filters"], e["count"]) for e in entries] == [
        ("violations.list", {"rule": "ANS-1"}, 1),
        ("violations.export", {}, 2),
    ]


async def _audited(cons: Console, account: str) -> list[tuple[str, dict[str, Any], int]]:
    return [
        (e["action"], e["filters"], e["count"])
        for e in reversed(await list_entries(cons.engine, account=account))
    ]


async def test_probes_and_refused_changes_are_audited_and_absent_looks_like_hidden(cons: Console) -> None:
    """LOG-3 (review F7): a violation the viewer may not read answers exactly as one that does not
    exist (404, same text), and every refused change leaves an audit entry with count 0."""
    hidden = next(v["id"] for v in await _violations(cons, "wang.li", rule="ANS-1"))  # 刘洋's
    async with cons.client("zhou.qiang") as client:
        probe = await client.post(f"/api/v1/violations/{hidden}/appeal", json={"reason": "x"})
        absent = await client.post("/api/v1/violations/9999/appeal", json={"reason": "x"})
    assert probe.status_code == absent.status_code == 404
    assert probe.json()["detail"].replace(str(hidden), "N") == absent.json()["detail"].replace("9999", "N")
    assert await _audited(cons, "zhou.qiang") == [
        ("violations.appeal", {"id": str(hidden)}, 0),
        ("violations.appeal", {"id": "9999"}, 0),
    ]
    premium = await _premium(cons)
    async with cons.client("liu.yang") as head:  # reads 周强's violation; may not appeal or decide it
        assert (
            await head.post(f"/api/v1/violations/{premium}/appeal", json={"reason": "x"})
        ).status_code == 403
        decided = await head.post(
            f"/api/v1/violations/{premium}/decision", json={"decision": "overturn", "reason": "x"}
        )
        assert decided.status_code == 403
    path = f"/api/v1/violations/{premium}"
    assert await _audited(cons, "liu.yang") == [
        ("violations.refused", {"id": str(premium), "path": f"{path}/appeal"}, 0),
        ("violations.refused", {"id": str(premium), "path": f"{path}/decision"}, 0),
    ]
    async with cons.client("wang.li") as admin:
        gone = await admin.post(
            "/api/v1/violations/9999/decision", json={"decision": "uphold", "reason": "x"}
        )
    assert gone.status_code == 404
    assert await _audited(cons, "wang.li") == [
        ("violations.list", {"rule": "ANS-1"}, 1),
        ("violations.list", {"rule": "OUT-1"}, 1),
        ("violations.decision", {"id": "9999"}, 0),
    ]


async def _own_violation(cons: Console) -> int:
    await write_records(cons.engine, [admins_own_violation()], Ladder.from_config(cons.config))
    (own,) = await _violations(cons, "wang.li", person="wang.li")
    return int(own["id"])


async def test_an_administrator_may_not_decide_their_own_violation(cons: Console) -> None:
    """LOG-5 (review F9): 王丽 may appeal her own violation like anyone, but deciding it is
    refused (403, audited), in the console as on the command line."""
    ident = await _own_violation(cons)
    async with cons.client("wang.li") as admin:
        appealed = await admin.post(f"/api/v1/violations/{ident}/appeal", json={"reason": "a misdial"})
        assert appealed.status_code == 200 and appealed.json()["status"] == "appealed"
        own = await admin.post(
            f"/api/v1/violations/{ident}/decision", json={"decision": "overturn", "reason": "agreed"}
        )
    assert own.status_code == 403 and "own violation" in own.json()["detail"]
    (own_row,) = await _violations(cons, "wang.li", person="wang.li")
    assert own_row["status"] == "appealed"
    (refusal,) = await list_entries(cons.engine, account="wang.li", action="violations.refused")
    assert refusal["filters"] == {"id": str(ident), "path": f"/api/v1/violations/{ident}/decision"}
    assert refusal["count"] == 0
    browser, csrf = await cons.browser("wang.li")
    async with browser:  # the page offers her no decision form on her own violation
        page = (await browser.get("/violations")).text
        assert f'action="/violations/{ident}/decision"' not in page
        posted = await browser.post(
            f"/violations/{ident}/decision", data={"decision": "overturn", "reason": "x", "csrf": csrf}
        )
    assert posted.status_code == 403
    db = str(cons.config.database.url)
    refused = await _cli(
        "violations", "decide", str(ident), "--overturn", "--reason", "agreed", "--by", "wang.li", "--db", db
    )
    assert refused[0] == 1 and refused[1] == ""
    assert refused[2].count("\n") == 1 and "own violation" in refused[2] and "LOG-5" in refused[2]
    (own_row,) = await _violations(cons, "wang.li", person="wang.li")
    assert own_row["status"] == "appealed"
    other = await _cli(
        "violations", "decide", str(ident), "--uphold", "--reason", "premium", "--by", "zhang.wei", "--db", db
    )
    assert other[0] == 0, other
    (own_row,) = await _violations(cons, "wang.li", person="wang.li")
    assert (own_row["status"], own_row["decided_by"]) == ("upheld", "zhang.wei")


async def _cli(*args: str) -> tuple[int, str, str]:
    """The real `callguard` command line, as an administrator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callguard", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_form_refusal_is_shown_by_a_fixed_code_never_by_the_querys_text(cons: Console) -> None:
    """The page says what went wrong from a fixed list of texts; a link carrying its own text in
    ?problem= or ?done= (a phishing line on the console's page) shows nothing of it."""
    ident = await _premium(cons)
    async with cons.engine.begin() as conn:
        await conn.execute(
            update(ViolationRow)
            .where(ViolationRow.id == ident)
            .values(appeal_by=date.today() - timedelta(days=1))
        )
    browser, csrf = await cons.browser("zhou.qiang")
    async with browser:
        late = await browser.post(f"/violations/{ident}/appeal", data={"reason": "late", "csrf": csrf})
        assert (
            late.status_code == 303 and late.headers["location"] == f"/violations?problem=deadline&id={ident}"
        )
        page = (await browser.get(late.headers["location"])).text
        assert f"Violation {ident}: refused: its appeal deadline has passed." in page
        bait = "Your account is locked: call 400-000-0000"
        forged = (await browser.get("/violations", params={"problem": bait, "done": bait, "id": bait})).text
    assert "locked" not in forged and "400-000-0000" not in forged
    assert 'id="violations-problem"' not in forged and 'id="violations-done"' not in forged
