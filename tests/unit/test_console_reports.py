"""The console's report figures and charts (LOG-6): the rings-to-answer distribution, what a
viewer may see of a report, rows and server-drawn SVG charts, on records written by the real
writer into a real SQLite database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from callguard.reports.bills import monthly_bill
from callguard.reports.compliance import Compliance, compliance
from callguard.store.archive import read_month
from callguard.web.charts import Bar, column_chart, hbar_chart, stacked_chart
from callguard.web.reports import (
    REPORT_COLUMNS,
    bill_chart,
    parse_period,
    person_charts,
    report_charts,
    report_rows,
    scoped,
)
from tests.unit.test_reports import BUDGETS, MONTH, PEOPLE, _filled

SVG = "{http://www.w3.org/2000/svg}"


async def _report(tmp_path: Path) -> Compliance:
    engine = await _filled(tmp_path)
    try:
        return compliance(MONTH, await read_month(engine, MONTH, UTC), budgets=BUDGETS, people=PEOPLE)
    finally:
        await engine.dispose()


async def test_rings_to_answer_distribution(tmp_path: Path) -> None:
    report = await _report(tmp_path)
    people = {p.key: p.answering.rings for p in report.people}
    assert people["8000"] == {1: 1} and people["zhao.min"] == {2: 1} and people["chen.jie"] == {}
    admin = next(d for d in report.departments if d.key == "admin")
    assert admin.answering.rings == {1: 1, 2: 1}  # the desk at ring 1, 1002 at ring 2


async def test_a_viewer_sees_only_their_scope_of_the_report(tmp_path: Path) -> None:
    report = await _report(tmp_path)
    sales = scoped(report, frozenset({"sales"}))
    assert {p.key for p in sales.people} == {"liu.yang", "zhou.qiang"}
    assert [d.key for d in sales.departments] == ["sales"]
    own = scoped(report, None, person="chen.jie")
    assert [p.key for p in own.people] == ["chen.jie"] and own.departments == []
    assert scoped(report, None) is report


async def test_rows_are_exact_and_have_every_column(tmp_path: Path) -> None:
    rows = {(r["kind"], r["key"]): r for r in report_rows(await _report(tmp_path))}
    assert all(tuple(r) == REPORT_COLUMNS for r in rows.values())
    chen = rows[("person", "chen.jie")]
    assert (chen["offered"], chen["in_limit_pct"], chen["missed"], chen["violations"]) == (2, "0.0", 2, 2)
    liu = rows[("person", "liu.yang")]
    assert (liu["outside_cost_yuan"], liu["budget_yuan"], liu["budget_used_pct"]) == ("3.72", "4.00", "93.0")
    admin = rows[("department", "admin")]
    assert (admin["in_limit_pct"], admin["average_rings"]) == ("66.7", "1.50")


def _bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.get("class") == "chart" and root.find(f"{SVG}title") is not None
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


async def test_report_charts_are_labelled_svg_with_bars(tmp_path: Path) -> None:
    charts = report_charts(await _report(tmp_path), ring_limit=3)
    series = [ET.fromstring(svg).get("data-series") for svg in charts]
    assert series == ["in-limit-rate", "rings-to-answer", "missed", "violations", "budget"]
    rings = ET.fromstring(charts[1])
    labels = [t.text for t in rings.iter(f"{SVG}text")]
    assert "1" in labels and "5+" in labels and "rings waited" in labels
    heights = [float(r.get("height") or 0) for r in _bars(charts[1])]
    assert heights[0] > 0 and heights[1] > 0 and heights[2] == 0  # admin: one at 1 ring, one at 2
    violations = _bars(charts[3])
    assert {r.findtext(f"{SVG}title") for r in violations} == {
        "ANS-1 verbal_warning: 1",
        "ANS-1 written_warning: 1",
    }
    assert "93.0" not in charts[4] and "3.72 / 10.00 元" not in charts[4]  # departments: sales has no budget
    assert "0.33 / 10.00 元" in charts[4]


def test_a_bar_over_its_limit_is_red_and_the_limit_is_drawn() -> None:
    svg = hbar_chart("budget", "Cost", [Bar("sales", Decimal("12"), limit=Decimal("10"))], " 元")
    (bar,) = _bars(svg)
    assert bar.get("fill") == "#e15759"
    assert ET.fromstring(svg).find(f"{SVG}line") is not None
    svg = hbar_chart("budget", "Cost", [Bar("sales", Decimal("8"), limit=Decimal("10"))], " 元")
    assert _bars(svg)[0].get("fill") != "#e15759"


def test_empty_charts_say_so() -> None:
    assert "no data" in hbar_chart("x", "X", [])
    assert "no data" in column_chart("x", "X", [], "rings")
    assert "none" in stacked_chart("x", "X", {}, ["a"])


def test_titles_and_labels_are_escaped() -> None:
    svg = hbar_chart("x", "<b>", [Bar("<script>", 1)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)  # still well-formed


async def test_person_charts_and_bill_chart(tmp_path: Path) -> None:
    report = await _report(tmp_path)
    chen = next(p for p in report.people if p.key == "chen.jie")
    rings, violations = person_charts(chen, 3)
    assert all(float(r.get("height") or 0) == 0 for r in _bars(rings))  # never answered
    assert len(_bars(violations)) == 2
    engine = await _filled(tmp_path / "b")
    try:
        bill = monthly_bill(MONTH, await read_month(engine, MONTH, UTC), budgets=BUDGETS, people=PEOPLE)
    finally:
        await engine.dispose()
    svg = bill_chart(bill)
    assert ET.fromstring(svg).get("data-series") == "bill-cost" and len(_bars(svg)) == len(bill.departments)


def test_periods_are_local_months_or_days() -> None:
    month = parse_period("2026-11", UTC)
    assert (month.start, month.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    span = parse_period("2026-11-01..2026-11-15", UTC)
    assert span.end == datetime(2026, 11, 16, tzinfo=UTC)
    assert parse_period(None, UTC, today=date(2026, 12, 5)).label == "2026-12"
    december = parse_period("2026-12", UTC)
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("2026-13", "last week", "2026-11-15..2026-11-01"):
        with pytest.raises(ValueError, match="^period: "):
            parse_period(bad, UTC)


def test_a_rate_is_drawn_against_one_hundred_percent() -> None:
    half = _bars(hbar_chart("rate", "Rate", [Bar("admin", Decimal("50"))], " %", full=100))[0]
    whole = _bars(hbar_chart("rate", "Rate", [Bar("admin", Decimal("50"))], " %"))[0]
    assert float(half.get("width") or 0) * 2 == pytest.approx(float(whole.get("width") or 0))
