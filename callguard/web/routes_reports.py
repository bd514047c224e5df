"""Reports in the console: answering compliance per department and person with charts (LOG-6),
a person's page for a performance review, and the monthly bill (LOG-4). Page, JSON and CSV show
the same rows; each read is scoped (LOG-3), masked (SEC-2) and audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callguard.reports.compliance import Compliance, Figures, compliance
from callguard.reports.inputs import bill_inputs
from callguard.store.archive import read_calls
from callguard.store.models import ViolationRow
from callguard.web.audit import record
from callguard.web.call_rows import cells, violation_row
from callguard.web.deps import Access, console, csv_response, page, require
from callguard.web.refusals import not_found
from callguard.web.reports import (
    REPORT_COLUMNS,
    Period,
    Row,
    figures_row,
    parse_period,
    person_charts,
    report_charts,
    report_rows,
    scoped,
)

router = APIRouter()
Reports = Annotated[Access, Depends(require("reports"))]


@dataclass
class Asked:
    period: Period
    departments: frozenset[str] | None  # None: every department
    person: str | None

    def filters(self) -> dict[str, str]:
        out = {"period": self.period.label}
        if self.departments is not None:
            out["department"] = ",".join(sorted(self.departments))
        if self.person:
            out["person"] = self.person
        return out


async def _asked(request: Request, access: Access, action: str, person: str | None = None) -> Asked:
    """What the viewer asked for, within their reach; a person out of reach answers as one who
    is not in the directory (404, audited: LOG-3)."""
    params = request.query_params
    try:
        period = parse_period(params.get("period"))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    department = params.get("department") or None
    departments = None if access.scope.everything else access.scope.departments
    if department is not None:
        departments = (
            frozenset({department}) & departments if departments is not None else frozenset({department})
        )
    person = person or params.get("person") or None
    asked = Asked(period, departments, person)
    reach = access.scope
    if person is not None and (
        person not in console(request).org.people or not (reach.everything or person in reach.people)
    ):
        detail = f"person {person}: no such person among those whose reports you may read"
        await not_found(access.viewer, action, asked.filters(), detail)
    return asked


async def _whole_report(request: Request, period: Period) -> Compliance:
    state = console(request)
    budgets, who, names = await bill_inputs(state.engine, state.config)
    calls = await read_calls(state.engine, period.start, period.end)
    return compliance(period.label, calls, budgets=budgets, people=who, department_names=names)


async def _report(request: Request, asked: Asked) -> Compliance:
    return scoped(await _whole_report(request, asked.period), asked.departments, asked.person)


async def _compliance(request: Request, access: Access, action: str) -> tuple[Asked, Compliance, list[Any]]:
    asked = await _asked(request, access, action)
    report = await _report(request, asked)
    rows = report_rows(report)
    await record(access.viewer, action, asked.filters(), len(rows))
    return asked, report, rows


@router.get("/api/v1/reports/compliance", tags=["reports"])
async def compliance_json(request: Request, access: Reports) -> dict[str, Any]:
    """LOG-6 per department and person for a period (`2026-11` or `2026-11-01..2026-11-15`)."""
    asked, _report_, rows = await _compliance(request, access, "reports.compliance")
    return {"period": asked.period.label, "rows": rows}


@router.get("/reports/compliance.csv", tags=["reports"])
async def compliance_csv(request: Request, access: Reports) -> Response:
    asked, _report_, rows = await _compliance(request, access, "reports.export")
    return csv_response(cells(rows), REPORT_COLUMNS, f"compliance-{asked.period.label}.csv")


@router.get("/reports/compliance", include_in_schema=False)
async def compliance_page(request: Request, access: Reports) -> Response:
    asked, report, rows = await _compliance(request, access, "reports.compliance")
    config = console(request).config
    every = [d.id for d in config.directory.departments]
    return page(
        request,
        access.viewer,
        "report.html",
        period=asked.period.label,
        rows=rows,
        charts=report_charts(report, config.answering.rings),
        departments=every if access.scope.everything else sorted(access.scope.departments),
        params=dict(request.query_params),
        query=request.url.query,
    )


@dataclass
class Review:
    """A person's page for a performance review: their figures, their department's beside
    them, and each of their violations in the period."""

    asked: Asked
    rows: list[Row]
    department: Row | None
    violations: list[Row]
    figures: Figures | None


async def _violations(request: Request, access: Access, person: str, period: Period) -> list[Row]:
    stmt = (
        select(ViolationRow)
        .where(ViolationRow.person == person, ViolationRow.at >= period.start, ViolationRow.at < period.end)
        .order_by(ViolationRow.at, ViolationRow.id)
    )
    async with AsyncSession(console(request).engine) as session:
        return [violation_row(v, access.viewer) for v in (await session.execute(stmt)).scalars()]


async def _review(request: Request, access: Access, person: str) -> Review:
    asked = await _asked(request, access, "reports.person", person)
    known = console(request).org.people[person]  # _asked answered 404 for anyone else
    whole = await _whole_report(request, asked.period)
    mine = scoped(whole, None, person)
    department = next(
        (figures_row("department", d) for d in whole.departments if d.key == known.department), None
    )
    violations = await _violations(request, access, person, asked.period)
    await record(access.viewer, "reports.person", asked.filters(), len(mine.people) + len(violations))
    figures = mine.people[0] if mine.people else None
    return Review(asked, report_rows(mine), department, violations, figures)


@router.get("/api/v1/reports/person/{person}", tags=["reports"])
async def person_json(request: Request, access: Reports, person: str) -> dict[str, Any]:
    """One person's LOG-6 figures for a period (a performance review), their department's
    beside them, and their violations in the period."""
    review = await _review(request, access, person)
    return {
        "period": review.asked.period.label,
        "rows": review.rows,
        "department": review.department,
        "violations": review.violations,
    }


@router.get("/reports/person/{person}", include_in_schema=False)
async def person_page(request: Request, access: Reports, person: str) -> Response:
    review = await _review(request, access, person)
    state = console(request)
    figures = review.figures
    return page(
        request,
        access.viewer,
        "person_report.html",
        period=review.asked.period.label,
        person=state.org.people[person],
        rows=review.rows,
        department=review.department,
        violations=review.violations,
        charts=person_charts(figures, state.config.answering.rings) if figures else [],
        figures=figures,
    )


@router.get("/reports", include_in_schema=False)
async def reports_index(_access: Reports) -> Response:
    return RedirectResponse("/reports/compliance", status_code=303)
