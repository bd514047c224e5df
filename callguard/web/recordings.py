"""Supervision recordings in the console (LOG-6): the sample of recorded outside calls as a page,
JSON and CSV, and each recording played in the browser. Only the roles the LOG-3 matrix lets
read recordings (auditors, admins) see them; numbers are masked per viewer (SEC-2); the list
and every playback are audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.store.models import CallRow
from callguard.web.access import Scope, calls_where
from callguard.web.access import mask as mask_number
from callguard.web.audio import RecordingUnavailable, fetch_recording, media_type
from callguard.web.audit import record
from callguard.web.call_rows import local
from callguard.web.deps import Access, console, csv_response, page, require

router = APIRouter()
Reading = Annotated[Access, Depends(require("recordings"))]
COLUMNS = (
    "id",
    "started",
    "direction",
    "caller",
    "caller_name",
    "caller_department",
    "callee",
    "callee_name",
    "callee_department",
    "talk_s",
    "recording",
    "node",
    "call_id",
)
LIMIT = 500


def _in_scope(scope_: Scope) -> Any:
    c = CallRow
    return calls_where(scope_, c.caller_number, c.callee_number, c.caller_department, c.callee_department)


async def recorded_calls(engine: AsyncEngine, scope_: Scope, limit: int = LIMIT) -> list[CallRow]:
    """The calls with a supervision recording the scope may read, newest first."""
    stmt = (
        select(CallRow)
        .where(and_(CallRow.recording.is_not(None), _in_scope(scope_)))
        .order_by(CallRow.started_at.desc(), CallRow.id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).all())  # type: ignore[arg-type]


def recording_row(call: Any, access: Access) -> dict[str, Any]:
    viewer = access.viewer
    return {
        "id": call.id,
        "started": local(call.started_at),
        "direction": call.direction,
        "caller": mask_number(viewer, call.caller_number),
        "caller_name": call.caller_name,
        "caller_department": call.caller_department,
        "callee": mask_number(viewer, call.callee_number),
        "callee_name": call.callee_name,
        "callee_department": call.callee_department,
        "talk_s": round(call.talk_s, 1) if call.talk_s is not None else None,
        "recording": call.recording,
        "node": call.node,
        "call_id": call.call_id,
    }


async def _rows(request: Request, access: Access, action: str) -> list[dict[str, Any]]:
    calls = await recorded_calls(console(request).engine, access.scope)
    rows = [recording_row(c, access) for c in calls]
    await record(access.viewer, action, {}, len(rows))
    return rows


@router.get("/api/v1/recordings", tags=["recordings"])
async def recordings_json(request: Request, access: Reading) -> list[dict[str, Any]]:
    """The recorded sample of outside calls (LOG-6), newest first."""
    return await _rows(request, access, "recordings.list")


@router.get("/recordings.csv", tags=["recordings"])
async def recordings_csv(request: Request, access: Reading) -> Response:
    return csv_response(await _rows(request, access, "recordings.export"), COLUMNS, "recordings.csv")


@router.get("/recordings", include_in_schema=False)
async def recordings_page(request: Request, access: Reading) -> Response:
    rows = await _rows(request, access, "recordings.list")
    return page(request, access.viewer, "recordings.html", rows=rows)


async def _audio(request: Request, access: Access, recording_id: int) -> Response:
    state = console(request)
    stmt = select(CallRow.recording).where(and_(CallRow.id == recording_id, _in_scope(access.scope)))
    async with state.engine.connect() as conn:
        name = (await conn.execute(stmt)).scalar_one_or_none()
    if not name:  # absent, or outside the viewer's scope: the same answer (LOG-3)
        await record(access.viewer, "recordings.play", {"id": str(recording_id)}, 0)
        raise HTTPException(404, f"recording {recording_id}: no such recording among those you may read")
    try:
        audio = await fetch_recording(state.config, name)
    except RecordingUnavailable as exc:
        await record(access.viewer, "recordings.play", {"id": str(recording_id)}, 0)
        raise HTTPException(404, str(exc)) from None
    await record(access.viewer, "recordings.play", {"id": str(recording_id)}, 1)
    # private: a shared cache must never keep a recorded call
    return Response(audio, media_type=media_type(name), headers={"Cache-Control": "private, no-store"})


@router.get("/api/v1/recordings/{recording_id}/audio", tags=["recordings"])
async def recording_audio_api(request: Request, access: Reading, recording_id: int) -> Response:
    """The recording as Asterisk stored it (audio/wav); every playback is audited."""
    return await _audio(request, access, recording_id)


@router.get("/recordings/{recording_id}/audio", include_in_schema=False)
async def recording_audio(request: Request, access: Reading, recording_id: int) -> Response:
    return await _audio(request, access, recording_id)
