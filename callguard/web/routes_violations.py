"""Violations and appeals in the console (LOG-5): a person reads their violations and appeals
one within its window; an administrator upholds or overturns with a reason. The rules of the
window and of deciding are `policy.ladder`'s, applied by `store.ladder`. Reads are scoped
(LOG-3), masked (SEC-2) and audited; appeals and decisions are audited too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callguard.policy.ladder import APPEALED, OPEN, AppealError
from callguard.store import ladder
from callguard.store.models import ViolationEventRow, ViolationRow
from callguard.web.access import Viewer, people_where, scope
from callguard.web.audit import record
from callguard.web.call_rows import cells, reaches, violation_row
from callguard.web.deps import Access, check_csrf, console, csv_response, page, require
from callguard.web.refusals import not_found, refused

router = APIRouter()
Violations = Annotated[Access, Depends(require("violations"))]
COLUMNS = (
    "id", "at", "rule", "person", "extension", "reason", "severity", "step", "fine_yuan", "status",
    "appeal_by", "appeal_reason", "decided_by", "decision_reason", "node", "call_id",
)  # fmt: skip
STATUSES = ("open", "appealed", "upheld", "overturned")
# What a form's redirect may ask the page to say: fixed texts by code, never the query's own text
# (a link with ?problem=<any text> would put that text on the console's page). The API's 409
# carries the whole reason.
PROBLEMS = {
    "reason": "say why: a reason is needed.",
    "deadline": "its appeal deadline has passed.",
    "no_step": "it has no ladder step: nothing to appeal.",
    "not_open": "it is no longer open: a violation is appealed once.",
    "decided": "it is already decided.",
    "changed": "it changed meanwhile: look again.",
    "refused": "the change was refused.",
}
_MARKERS = (  # AppealError texts (policy.ladder, store.ladder) -> their code
    ("say why", "reason"),
    ("deadline", "deadline"),
    ("no ladder step", "no_step"),
    ("appealed once", "not_open"),
    ("already", "decided"),
    ("changed meanwhile", "changed"),
)


def problem_code(reason: str) -> str:
    return next((code for marker, code in _MARKERS if marker in reason), "refused")


def _filters(request: Request) -> dict[str, str]:
    params = request.query_params
    out = {k: params[k] for k in ("status", "rule", "person") if params.get(k)}
    if out.get("status") not in (None, *STATUSES):
        raise HTTPException(400, f"status: one of {', '.join(STATUSES)}")
    return out


async def _rows(request: Request, access: Access, action: str) -> list[dict[str, Any]]:
    filters = _filters(request)
    stmt = (
        select(ViolationRow)
        .where(people_where(access.scope, ViolationRow.person, ViolationRow.extension))
        .order_by(ViolationRow.at.desc(), ViolationRow.id.desc())
        .limit(1000)
    )
    for key in ("status", "rule", "person"):
        if key in filters:
            stmt = stmt.where(getattr(ViolationRow, key) == filters[key])
    async with AsyncSession(console(request).engine) as session:
        found = list((await session.execute(stmt)).scalars())
        said = await _reasons(session, [v.id for v in found])
    rows = [{**violation_row(v, access.viewer), **said.get(v.id, NO_REASONS)} for v in found]
    await record(access.viewer, action, filters, len(rows))
    return rows


NO_REASONS = {"appeal_reason": None, "decided_by": None, "decision_reason": None}


async def _reasons(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, str | None]]:
    """What the appeal said and who decided why (violation_events): the administrator reads
    the appeal before deciding; the person reads the decision."""
    out: dict[int, dict[str, str | None]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        events = await session.execute(
            select(ViolationEventRow)
            .where(ViolationEventRow.violation_id.in_(chunk), ViolationEventRow.action != "step_assigned")
            .order_by(ViolationEventRow.id)
        )
        for e in events.scalars():
            row = out.setdefault(e.violation_id, dict(NO_REASONS))
            if e.action == "appealed":
                row["appeal_reason"] = e.reason
            else:
                row["decided_by"], row["decision_reason"] = e.by, e.reason
    return out


def may_appeal(viewer: Viewer, row: dict[str, Any], today: date) -> bool:
    """The person's own open violation with a ladder step, before its deadline (LOG-5)."""
    deadline = row.get("appeal_by")
    return (
        row.get("person") == viewer.person_id
        and row.get("status") == OPEN
        and row.get("step") is not None
        and deadline is not None
        and date.fromisoformat(deadline) >= today
    )


def may_decide(viewer: Viewer, row: dict[str, Any]) -> bool:
    """An administrator, on someone else's open or appealed violation (LOG-5)."""
    return (
        viewer.role == "admin"
        and row.get("status") in (OPEN, APPEALED)
        and row.get("person") != viewer.person_id
    )


@router.get("/api/v1/violations", tags=["violations"])
async def violations_json(request: Request, access: Violations) -> list[dict[str, Any]]:
    """Violations the viewer may read, newest first (filters: status, rule, person)."""
    return await _rows(request, access, "violations.list")


@router.get("/violations.csv", tags=["violations"])
async def violations_csv(request: Request, access: Violations) -> Response:
    return csv_response(cells(await _rows(request, access, "violations.export")), COLUMNS, "violations.csv")


@router.get("/violations", include_in_schema=False)
async def violations_page(request: Request, access: Violations) -> Response:
    rows = await _rows(request, access, "violations.list")
    today = datetime.now().astimezone().date()
    for row in rows:
        row["may_appeal"] = may_appeal(access.viewer, row, today)
        row["may_decide"] = may_decide(access.viewer, row)
    return page(
        request,
        access.viewer,
        "violations.html",
        rows=rows,
        params=dict(request.query_params),
        query=urlencode(_filters(request)),  # the CSV link: the filters, not ?problem= or ?done=
        done=_number(request.query_params.get("done")),
        problem=PROBLEMS.get(request.query_params.get("problem") or ""),
        problem_id=_number(request.query_params.get("id")),
    )


def _number(text: str | None) -> str | None:
    """A violation id to name on the page: digits only, else nothing."""
    return text if text and text.isdigit() and len(text) < 12 else None


async def _field(request: Request, name: str) -> str:
    """A field of the form (a page) or of the JSON body (the API)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        value = body.get(name) if isinstance(body, dict) else None
    else:
        value = (await request.form()).get(name)
    return value.strip() if isinstance(value, str) else ""


def _answer(request: Request, violation_id: int, result: dict[str, Any] | None, problem: str | None) -> Any:
    """The API gets JSON (409 with the reason when refused); a form goes back to the list, which
    says what happened by a fixed code."""
    if request.url.path.startswith("/api/"):
        if problem is not None:
            raise HTTPException(409, problem)
        return result
    query = {"problem": problem_code(problem), "id": violation_id} if problem else {"done": violation_id}
    return RedirectResponse(f"/violations?{urlencode(query)}", status_code=303)


async def _readable_row(request: Request, viewer: Viewer, violation_id: int, action: str) -> ViolationRow:
    """A violation the viewer may read; absent and out of reach answer alike (404, audited)."""
    async with AsyncSession(console(request).engine) as session:
        row = await session.get(ViolationRow, violation_id)
    if row is None or not reaches(scope(viewer, "violations"), row.person, row.extension):
        detail = f"violation {violation_id}: no such violation among those you may read"
        await not_found(viewer, action, {"id": str(violation_id)}, detail)
    return row


# A change needs the role's reach (403, audited, as for reads: LOG-3) and the form's CSRF token.
Posting = Annotated[Viewer, Depends(check_csrf)]


async def _appeal(request: Request, viewer: Viewer, violation_id: int) -> Any:
    row = await _readable_row(request, viewer, violation_id, "violations.appeal")
    if row.person != viewer.person_id:
        detail = "LOG-5: only the person a violation names may appeal it"
        await refused(request, viewer, "violations", {"id": str(violation_id)}, detail)
    reason = await _field(request, "reason")
    try:
        result = await ladder.appeal(
            console(request).engine, violation_id, reason, viewer.person_id, datetime.now(UTC)
        )
    except AppealError as exc:
        await record(viewer, "violations.appeal_refused", {"id": str(violation_id)}, 0)
        return _answer(request, violation_id, None, str(exc).replace("--reason: ", "reason: "))
    await record(viewer, "violations.appeal", {"id": str(violation_id)}, 1)
    return _answer(request, violation_id, _jsonable(result), None)


async def _decide(request: Request, viewer: Viewer, violation_id: int) -> Any:
    filters = {"id": str(violation_id)}
    if viewer.role != "admin":
        await refused(request, viewer, "violations", filters, "LOG-5: only an administrator decides appeals")
    row = await _readable_row(request, viewer, violation_id, "violations.decision")
    if row.person == viewer.person_id:  # LOG-5: no one judges their own case
        detail = "LOG-5: an administrator may not decide their own violation; another administrator decides"
        await refused(request, viewer, "violations", filters, detail)
    decision, reason = await _field(request, "decision"), await _field(request, "reason")
    if decision not in ("uphold", "overturn"):
        raise HTTPException(400, "decision: uphold or overturn")
    engine, now = console(request).engine, datetime.now(UTC)
    try:
        result = await ladder.decide(engine, violation_id, decision == "uphold", reason, viewer.account, now)
    except AppealError as exc:
        await record(viewer, "violations.decision_refused", filters, 0)
        return _answer(request, violation_id, None, str(exc).replace("--reason and --by: ", "reason: "))
    await record(viewer, f"violations.{decision}", filters, 1)
    return _answer(request, violation_id, _jsonable(result), None)


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if not isinstance(v, str | int | type(None)) else v for k, v in result.items()}


@router.post("/api/v1/violations/{violation_id}/appeal", tags=["violations"])
async def appeal_json(request: Request, _access: Violations, viewer: Posting, violation_id: int) -> Any:
    """The person appeals their violation within its window: {"reason": "..."}; 409 when refused."""
    return await _appeal(request, viewer, violation_id)


@router.post("/violations/{violation_id}/appeal", include_in_schema=False)
async def appeal_form(request: Request, _access: Violations, viewer: Posting, violation_id: int) -> Any:
    return await _appeal(request, viewer, violation_id)


@router.post("/api/v1/violations/{violation_id}/decision", tags=["violations"])
async def decision_json(request: Request, _access: Violations, viewer: Posting, violation_id: int) -> Any:
    """An administrator upholds or overturns: {"decision": "uphold"|"overturn", "reason": "..."}."""
    return await _decide(request, viewer, violation_id)


@router.post("/violations/{violation_id}/decision", include_in_schema=False)
async def decision_form(request: Request, _access: Violations, viewer: Posting, violation_id: int) -> Any:
    return await _decide(request, viewer, violation_id)
