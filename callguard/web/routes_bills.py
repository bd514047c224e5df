"""The monthly phone bill in the console (LOG-4, 每月公布话费账单): `reports.bills` per department
and person with its chart; the CSV is `callguard bill --format csv`'s. Scoped (LOG-3: a head
sees their departments' bills), outside numbers masked (SEC-2), every read audited."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from callguard.reports.bills import Bill, monthly_bill
from callguard.reports.inputs import bill_inputs
from callguard.reports.money import cents
from callguard.reports.render import bill_rows, jsonable, write_csv
from callguard.store.archive import read_month
from callguard.web.access import mask
from callguard.web.audit import record
from callguard.web.deps import Access, console, page, require
from callguard.web.refusals import not_found
from callguard.web.reports import bill_chart

router = APIRouter()
Bills = Annotated[Access, Depends(require("bills"))]
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # fullmatch: `$` allows a trailing newline


async def _department(request: Request, access: Access, month: str, action: str) -> str | None:
    """The department asked for; a head without one gets their first (they may head several).
    Another department answers as an unknown one (404, audited: LOG-3)."""
    asked = request.query_params.get("department") or None
    known = {d.id for d in console(request).config.directory.departments}
    if asked is None:
        return None if access.scope.everything else sorted(access.scope.departments)[0]
    if asked not in known or not (access.scope.everything or asked in access.scope.departments):
        detail = f"department {asked}: no such department among those whose bills you may read"
        await not_found(access.viewer, action, {"month": month, "department": asked}, detail)
    return asked


async def _bill(request: Request, access: Access, month: str, action: str) -> Bill:
    if not _MONTH.fullmatch(month):
        raise HTTPException(400, f"month: {month!r} is not a month like 2026-11")
    department = await _department(request, access, month, action)
    state = console(request)
    budgets, who, names = await bill_inputs(state.engine, state.config)
    calls = await read_month(state.engine, month)
    bill = monthly_bill(
        month, calls, department=department, budgets=budgets, people=who, department_names=names
    )
    viewer = access.viewer
    bill.top_calls = [
        replace(c, dialed=mask(viewer, c.dialed), number=mask(viewer, c.number)) for c in bill.top_calls
    ]
    filters = {"month": month, "department": department or ""}
    await record(viewer, action, filters, sum(len(d.people) for d in bill.departments))
    return bill


@router.get("/api/v1/bills/{month}", tags=["bills"])
async def bill_json(request: Request, access: Bills, month: str) -> dict[str, Any]:
    """The month's bill: per department and person, by number class, budgets, top calls."""
    data: dict[str, Any] = jsonable(await _bill(request, access, month, "bills.read"))
    return data


@router.get("/bills/{month}.csv", tags=["bills"])
async def bill_csv(request: Request, access: Bills, month: str) -> Response:
    bill = await _bill(request, access, month, "bills.export")
    return Response(
        write_csv(bill_rows(bill)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="bill-{month}.csv"'},
    )


@router.get("/bills/{month}", include_in_schema=False)
async def bill_page(request: Request, access: Bills, month: str) -> Response:
    bill = await _bill(request, access, month, "bills.read")
    every = [d.id for d in console(request).config.directory.departments]
    return page(
        request,
        access.viewer,
        "bill.html",
        bill=bill,
        chart=bill_chart(bill),
        cents=cents,  # money as Decimal, 2 places rounded half up (LOG-4)
        departments=every if access.scope.everything else sorted(access.scope.departments),
        query=request.url.query,
    )


@router.get("/bills", include_in_schema=False)
async def bills_index(_access: Bills) -> Response:
    return RedirectResponse(f"/bills/{datetime.now().astimezone():%Y-%m}", status_code=303)
