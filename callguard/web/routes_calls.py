"""Call records in the console (LOG-1, LOG-3, SEC-2): the search as a page, JSON and CSV (the
same rows), and a call's whole story. Each read is scoped, masked and audited."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from callguard.web.access import scope
from callguard.web.audit import record
from callguard.web.call_rows import CALL_COLUMNS, call_row, call_story, cells
from callguard.web.deps import Access, console, csv_response, page, require
from callguard.web.records import CallSearch, find_call, parse_search, search_calls

router = APIRouter()
Calls = Annotated[Access, Depends(require("calls"))]


async def _search(request: Request, access: Access) -> CallSearch:
    try:
        search = parse_search(request.query_params)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    viewer = access.viewer
    # SEC-2: searching by an outside number would tell whether it called, even masked. The probe
    # is a refusal like any other: audited (LOG-3).
    if search.number and not viewer.sees_numbers and not viewer.org.keep(search.number):
        await record(viewer, "calls.refused", {**search.filters(), "path": request.url.path}, 0)
        raise HTTPException(400, "number: only roles that see outside numbers may search by one (SEC-2)")
    return search


def _without_costs(access: Access, row: dict[str, Any]) -> dict[str, Any]:
    if scope(access.viewer, "costs").refused:
        row["cost_yuan"] = None
    return row


async def _rows(request: Request, access: Access, action: str) -> tuple[CallSearch, list[dict[str, Any]]]:
    search = await _search(request, access)
    viewer = access.viewer
    found = await search_calls(
        console(request).engine, search, access.scope, viewer.org, scope(viewer, "violations")
    )
    rows = [_without_costs(access, call_row(c, access.viewer)) for c in found]
    await record(access.viewer, action, search.filters(), len(rows))
    return search, rows


@router.get("/api/v1/calls", tags=["calls"])
async def calls_json(request: Request, access: Calls) -> list[dict[str, Any]]:
    """Calls the viewer may read, newest first: from, to (local dates or times), person,
    department, number, direction, disposition, rule, limit, offset."""
    return (await _rows(request, access, "calls.list"))[1]


@router.get("/calls.csv", tags=["calls"])
async def calls_csv(request: Request, access: Calls) -> Response:
    return csv_response(cells((await _rows(request, access, "calls.export"))[1]), CALL_COLUMNS, "calls.csv")


@router.get("/calls", include_in_schema=False)
async def calls_page(request: Request, access: Calls) -> Response:
    search, rows = await _rows(request, access, "calls.list")
    every = [d.id for d in console(request).config.directory.departments]
    departments = every if access.scope.everything else sorted(access.scope.departments)
    params = dict(request.query_params)
    older = None
    if len(rows) == search.limit:  # a full page: there may be more
        older = urlencode({**params, "offset": search.offset + search.limit})
    return page(
        request,
        access.viewer,
        "calls.html",
        rows=rows,
        params=params,
        departments=departments,
        query=request.url.query,
        older=older,
    )


async def _story(request: Request, access: Access, node: str, call_id: str) -> dict[str, Any]:
    stored = await find_call(console(request).engine, node, call_id, access.scope)
    await record(access.viewer, "calls.read", {"node": node, "call_id": call_id}, 1 if stored else 0)
    if stored is None:  # absent, or outside the viewer's scope: the same answer (LOG-3)
        raise HTTPException(404, f"call {node}/{call_id}: no such call among those you may read")
    return _without_costs(access, call_story(stored, access.viewer))


@router.get("/api/v1/calls/{node}/{call_id}", tags=["calls"])
async def call_json(request: Request, access: Calls, node: str, call_id: str) -> dict[str, Any]:
    """One call's whole story: legs and rings, prompts, decisions with rule IDs, transfers,
    cost, matter, violations, the message left."""
    return await _story(request, access, node, call_id)


@router.get("/calls/{node}/{call_id}", include_in_schema=False)
async def call_page(request: Request, access: Calls, node: str, call_id: str) -> Response:
    return page(request, access.viewer, "call.html", call=await _story(request, access, node, call_id))
