"""Violations and appeals in the console (LOG-5, LOG-3): each role reads the violations it may,
the person named appeals within the window (refused after it, with the reason), an administrator
decides with a reason; forms need the session's CSRF token; every read and change is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callguard.store.audit import list_entries
from callguard.store.models import ViolationRow
from tests.integration.console_records import Console, console


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
