"""Reports and bills in the console (LOG-6, LOG-4, LOG-3, SEC-2): compliance per department and
person with drawn charts, a person's review page and the monthly bill, scoped by role, masked,
the same rows in JSON and CSV, every read audited; over SQLite filled by the real writer."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callguard.store.audit import list_entries
from tests.integration.console_records import CARRIER_NUMBER, Console, console

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def cons(tmp_path: Path) -> AsyncIterator[Console]:
    async for made in console(tmp_path):
        yield made


def _period() -> str:
    """Yesterday and today (local): the test's calls, whenever the suite runs."""
    today = datetime.now().astimezone().date()
    return f"{today - timedelta(days=1)}..{today}"


def _month() -> str:
    return (datetime.now().astimezone() - timedelta(minutes=30)).strftime("%Y-%m")  # outbound-3's


async def _report(cons: Console, who: str, **params: str) -> dict[tuple[str, str], dict[str, Any]]:
    async with cons.client(who) as client:
        response = await client.get("/api/v1/reports/compliance", params={"period": _period(), **params})
    assert response.status_code == 200, response.text
    return {(r["kind"], r["key"]): r for r in response.json()["rows"]}


async def test_compliance_figures_for_the_whole_company(cons: Console) -> None:
    rows = await _report(cons, "he.gang")
    chen = rows[("person", "chen.jie")]  # answered 王丽 at ring 2; a caller left him a message
    assert (chen["offered"], chen["answered"], chen["rings_to_answer"], chen["outside_cost_yuan"]) == (
        2, 1, "2:1", "0.44",
    )  # fmt: skip
    liu = rows[("person", "liu.yang")]  # let an outside call ring out: ANS-1
    assert (liu["unanswered"], liu["in_limit_pct"], liu["violations_by_rule"]) == (
        1, "0.0", "ANS-1 verbal_warning:1",
    )  # fmt: skip
    zhou = rows[("person", "zhou.qiang")]
    assert zhou["answered_in_limit"] == 1 and zhou["outside_calls"] == 1 and zhou["violations"] == 1
    assert {k for k, _ in rows} == {"department", "person"}
    assert rows[("department", "admin")]["outside_cost_yuan"] == "0.44"


async def test_a_head_reads_only_their_departments_report(cons: Console) -> None:
    rows = await _report(cons, "liu.yang")
    assert {key for _, key in rows} == {"sales", "liu.yang", "zhou.qiang"}
    assert await _report(cons, "liu.yang", department="admin") == {}
    for who in ("chen.jie", "zhao.min", "ma.lin"):  # employee, finance, operations
        async with cons.client(who) as client:
            assert (await client.get("/api/v1/reports/compliance")).status_code == 403


async def test_report_csv_has_the_json_rows_and_the_page_draws_its_charts(cons: Console) -> None:
    rows = await _report(cons, "wang.li")
    async with cons.client("wang.li") as client:
        response = await client.get("/reports/compliance.csv", params={"period": _period()})
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["kind"], r["key"]) for r in table] == list(rows)
    assert table[0]["in_limit_pct"] == rows[next(iter(rows))]["in_limit_pct"]
    browser, _csrf = await cons.browser("wang.li")
    async with browser:
        html = (await browser.get("/reports/compliance", params={"period": _period()})).text
    charts = [ET.fromstring(svg) for svg in _svgs(html)]
    series = [c.get("data-series") for c in charts]
    assert series == ["in-limit-rate", "rings-to-answer", "missed", "violations", "budget"]
    for chart in charts:
        assert chart.findtext(f"{SVG}title")
    drawn = [r for c in charts for r in c.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert any(float(r.get("width") or 0) > 0 and float(r.get("height") or 0) > 0 for r in drawn)


def _svgs(html: str) -> list[str]:
    return re.findall(r'<svg class="chart".*?</svg>', html, re.S)


async def test_a_persons_review_page(cons: Console) -> None:
    async with cons.client("liu.yang") as client:
        zhou = await client.get("/api/v1/reports/person/zhou.qiang", params={"period": _period()})
        chen = await client.get("/api/v1/reports/person/chen.jie", params={"period": _period()})
    assert zhou.status_code == 200 and zhou.json()["rows"][0]["answered_in_limit"] == 1
    (premium,) = zhou.json()["violations"]  # each violation of the period, for the review
    assert (premium["rule"], premium["step"], premium["call_id"]) == ("OUT-1", "fine", "outbound-4")
    assert zhou.json()["department"]["key"] == "sales"  # his department's figures beside his
    assert chen.status_code == 404  # not in 刘洋's department
    browser, _csrf = await cons.browser("wang.li")
    async with browser:
        html = (await browser.get("/reports/person/liu.yang", params={"period": _period()})).text
    assert 'id="person-report"' in html and "刘洋 Liu Yang" in html and 'data-series="violations"' in html
    assert "ANS-1 verbal_warning:1" in html and 'id="person-department"' in html
    assert 'id="person-violations"' in html and "not answered within 3 rings" in html


async def test_the_monthly_bill_is_scoped_and_masked(cons: Console) -> None:
    async with cons.client("zhao.min") as client:  # finance: every department, numbers masked
        bill = (await client.get(f"/api/v1/bills/{_month()}")).json()
        text = (await client.get(f"/bills/{_month()}.csv")).content.decode("utf-8-sig")
    assert bill["total"]["cost"] == "0.4400" and bill["total"]["calls"] == 1
    assert bill["top_calls"][0]["dialed"] == "139****5678"
    assert "139****5678" in text and CARRIER_NUMBER not in text
    async with cons.client("wang.li") as client:  # admin: unmasked
        assert (await client.get(f"/api/v1/bills/{_month()}")).json()["top_calls"][0][
            "dialed"
        ] == CARRIER_NUMBER
    async with cons.client("liu.yang") as client:  # the head of sales: sales' bill only
        sales = (await client.get(f"/api/v1/bills/{_month()}")).json()
        refused = await client.get(f"/api/v1/bills/{_month()}", params={"department": "admin"})
    assert sales["department"] == "sales" and sales["total"]["calls"] == 0 and refused.status_code == 404
    async with cons.client("chen.jie") as client:
        assert (await client.get(f"/api/v1/bills/{_month()}")).status_code == 403
    browser, _csrf = await cons.browser("zhao.min")
    async with browser:
        html = (await browser.get(f"/bills/{_month()}")).text
    assert 'data-series="bill-cost"' in html and "0.44" in html and CARRIER_NUMBER not in html


async def test_report_and_bill_reads_are_audited(cons: Console) -> None:
    await _report(cons, "liu.yang")
    async with cons.client("liu.yang") as client:
        await client.get(f"/bills/{_month()}.csv")
    entries = list(reversed(await list_entries(cons.engine, account="liu.yang")))
    assert [(e["action"], e["count"]) for e in entries] == [("reports.compliance", 3), ("bills.export", 0)]
    assert entries[0]["filters"] == {"period": _period(), "department": "sales"}
    assert entries[1]["filters"] == {"month": _month(), "department": "sales"}


async def test_a_month_or_period_with_a_trailing_newline_is_refused(cons: Console) -> None:
    """Review F14: `^...$` let "2026-11\\n" through (`$` matches before a final newline) into the
    CSV's Content-Disposition header, where uvicorn drops the response: a clear 400 instead."""
    month, period = _month(), _period()
    async with cons.client("wang.li") as client:
        for url, params in (
            (f"/bills/{month}%0A.csv", {}),
            (f"/api/v1/bills/{month}%0A", {}),
            (f"/bills/{month}%0A", {}),
            ("/reports/compliance.csv", {"period": f"{month}\n"}),
            ("/api/v1/reports/compliance", {"period": f"{period}\n"}),
            ("/api/v1/reports/person/chen.jie", {"period": f"{month}\n"}),
            ("/api/v1/calls", {"rule": "OUT-1\n"}),
            ("/api/v1/calls", {"disposition": "answered\n"}),
        ):
            response = await client.get(url, params=params)
            assert response.status_code == 400, (url, params, response.status_code)
            assert "\n" not in response.headers.get("content-disposition", "")
        good = await client.get(f"/bills/{month}.csv")
    assert good.status_code == 200
    assert good.headers["content-disposition"] == f'attachment; filename="bill-{month}.csv"'


async def test_probing_a_person_or_department_looks_like_an_absent_one_and_is_audited(cons: Console) -> None:
    """LOG-3 (review F7): the head of sales asking for 陈杰 (admin) or the admin department's bill
    gets the answer someone unknown gets (404, same text), and each attempt is audited (count 0)."""
    month, period = _month(), _period()
    answers = []
    async with cons.client("liu.yang") as client:
        for hidden, absent in (("chen.jie", "no.one"), ("admin", "nowhere")):
            for name in (hidden, absent):
                if hidden == "admin":
                    response = await client.get(f"/api/v1/bills/{month}", params={"department": name})
                else:
                    response = await client.get(f"/api/v1/reports/person/{name}", params={"period": period})
                answers.append((response.status_code, response.json()["detail"].replace(name, "X")))
        compliance = await client.get(
            "/api/v1/reports/compliance", params={"period": period, "person": "chen.jie"}
        )
    assert answers[0] == answers[1] and answers[2] == answers[3] and {s for s, _ in answers} == {404}
    assert compliance.status_code == 404
    entries = list(reversed(await list_entries(cons.engine, account="liu.yang")))
    assert [(e["action"], e["filters"], e["count"]) for e in entries] == [
        ("reports.person", {"period": period, "department": "sales", "person": "chen.jie"}, 0),
        ("reports.person", {"period": period, "department": "sales", "person": "no.one"}, 0),
        ("bills.read", {"month": month, "department": "admin"}, 0),
        ("bills.read", {"month": month, "department": "nowhere"}, 0),
        ("reports.compliance", {"period": period, "department": "sales", "person": "chen.jie"}, 0),
    ]
