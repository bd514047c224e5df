"""The read audit (LOG-3): `record()` after every read, and /audit for auditors and admins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from callguard.store.audit import AuditEntry, append_entry, list_entries
from callguard.web.access import mask_record
from callguard.web.deps import Access, csv_response, page, require
from callguard.web.guard import read_audited

if TYPE_CHECKING:
    from callguard.web.access import Viewer

log = structlog.get_logger()
router = APIRouter()
COLUMNS = ("seq", "at", "account", "role", "action", "filters", "count", "address", "hash")


async def record(viewer: Viewer, action: str, filters: dict[str, Any], count: int) -> None:
    """LOG-3: who read what (with its filters), how many records, when and from where; refusals
    too (`<what>.refused`). Written before the answer is sent: no audit entry, no data."""
    entry = AuditEntry(
        account=viewer.account,
        role=viewer.role,
        action=action,
        filters={k: v for k, v in filters.items() if v not in (None, "")},
        count=count,
        address=viewer.address,
        at=datetime.now(UTC),
    )
    values = await append_entry(viewer.engine, entry)
    read_audited()
    log.info(
        "console.read",
        rule="LOG-3",
        account=viewer.account,
        role=viewer.role,
        action=action,
        count=count,
        seq=values["seq"],
        hash=values["hash"],  # a copy of the chain's head outside the database (`audit verify`)
    )


def _filters(request: Request) -> dict[str, str]:
    keys = ("account", "action", "since", "until")
    return {k: request.query_params[k] for k in keys if request.query_params.get(k)}


def _when(text: str | None, key: str) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{key}: {text!r} is not a time like 2026-11-23T08:00") from None
    return at if at.tzinfo else at.astimezone()  # a time without a zone is local, as shown


async def _read(request: Request, access: Access, action: str) -> list[dict[str, Any]]:
    filters = _filters(request)
    rows = await list_entries(
        access.viewer.engine,
        account=filters.get("account"),
        action=filters.get("action"),
        since=_when(filters.get("since"), "since"),
        until=_when(filters.get("until"), "until"),
    )
    # The auditor's own reading of the audit is audited too.
    await record(access.viewer, action, filters, len(rows))
    # SEC-2: a number someone searched for is an outside party's too.
    masked: list[dict[str, Any]] = mask_record(access.viewer, rows)
    return masked


Auditing = Annotated[Access, Depends(require("audit"))]


@router.get("/api/v1/audit", tags=["audit"])
async def audit_json(request: Request, access: Auditing) -> list[dict[str, Any]]:
    return await _read(request, access, "audit.list")


@router.get("/audit.csv", tags=["audit"])
async def audit_csv(request: Request, access: Auditing) -> Response:
    rows = await _read(request, access, "audit.export")
    # The filters as JSON, as hashed (not Python's repr of a dict).
    table = [
        {**row, "filters": json.dumps(row["filters"], ensure_ascii=False, sort_keys=True)} for row in rows
    ]
    return csv_response(table, COLUMNS, "audit.csv")


@router.get("/audit", include_in_schema=False)
async def audit_page(request: Request, access: Auditing) -> Response:
    rows = await _read(request, access, "audit.list")
    for row in rows:  # stored and exported in UTC (as hashed); shown local, as every console time
        row["local"] = datetime.fromisoformat(str(row["at"])).astimezone().isoformat(timespec="seconds")
    return page(request, access.viewer, "audit.html", rows=rows, filters=_filters(request))
