"""Messages in the console (XFER-3): the messages left for the viewer (or those they may read),
played in the browser from Asterisk's recording (web.audio), and marked passed on. Reads and
playback are scoped (LOG-3), masked (SEC-2) and audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callguard.store.models import MessageRow
from callguard.store.queries import mark_message_done
from callguard.web.access import Viewer, people_where, scope
from callguard.web.audio import RecordingUnavailable, fetch_recording, media_type
from callguard.web.audit import record
from callguard.web.call_rows import cells, message_row, reaches
from callguard.web.deps import Access, check_csrf, console, csv_response, page, require
from callguard.web.refusals import not_found, refused

router = APIRouter()
Messages = Annotated[Access, Depends(require("messages"))]
COLUMNS = (
    "id", "left", "for_ext", "for_person", "caller", "caller_name", "duration_s", "passed_on", "passed_on_by",
    "node", "call_id",
)  # fmt: skip
STATES = ("open", "passed_on")
# What a form's redirect may ask the page to say: fixed texts by code, never the query's own text
# (a link with ?problem=<any text> would put that text on the console's page).
PROBLEMS = {"already_passed_on": "That message was already passed on."}


async def _rows(request: Request, access: Access, action: str) -> list[dict[str, Any]]:
    state = request.query_params.get("state") or None
    if state not in (None, *STATES):
        raise HTTPException(400, f"state: {' or '.join(STATES)}")
    stmt = (
        select(MessageRow)
        .where(people_where(access.scope, MessageRow.for_person, MessageRow.for_ext))
        .order_by(MessageRow.left_at.desc(), MessageRow.id.desc())
        .limit(1000)
    )
    if state is not None:
        stmt = stmt.where(
            MessageRow.done_at.is_(None) if state == "open" else MessageRow.done_at.is_not(None)
        )
    async with AsyncSession(console(request).engine) as session:
        found = list((await session.execute(stmt)).scalars())
    rows = [message_row(m, access.viewer) for m in found]
    await record(access.viewer, action, {"state": state} if state else {}, len(rows))
    return rows


@router.get("/api/v1/messages", tags=["messages"])
async def messages_json(request: Request, access: Messages) -> list[dict[str, Any]]:
    """Messages left for the people the viewer may read, newest first (state: open|passed_on)."""
    return await _rows(request, access, "messages.list")


@router.get("/messages.csv", tags=["messages"])
async def messages_csv(request: Request, access: Messages) -> Response:
    return csv_response(cells(await _rows(request, access, "messages.export")), COLUMNS, "messages.csv")


@router.get("/messages", include_in_schema=False)
async def messages_page(request: Request, access: Messages) -> Response:
    rows = await _rows(request, access, "messages.list")
    return page(
        request,
        access.viewer,
        "messages.html",
        rows=rows,
        may_pass_on=lambda m: access.viewer.role == "admin" or m["for_person"] == access.viewer.person_id,
        state=request.query_params.get("state") or "",
        problem=PROBLEMS.get(request.query_params.get("problem") or ""),
    )


async def _message(request: Request, viewer: Viewer, message_id: int, action: str) -> MessageRow:
    """A message the viewer may read; absent and out of reach answer alike (404, audited)."""
    async with AsyncSession(console(request).engine) as session:
        found = await session.get(MessageRow, message_id)
    if found is None or not reaches(scope(viewer, "messages"), found.for_person, found.for_ext):
        detail = f"message {message_id}: no such message among those you may read"
        await not_found(viewer, action, {"id": str(message_id)}, detail)
    return found


async def _audio(request: Request, access: Access, message_id: int) -> Response:
    message = await _message(request, access.viewer, message_id, "messages.play")
    try:
        audio = await fetch_recording(console(request).config, message.recording)
    except RecordingUnavailable as exc:
        await record(access.viewer, "messages.play", {"id": str(message_id)}, 0)
        raise HTTPException(404, str(exc)) from None
    await record(access.viewer, "messages.play", {"id": str(message_id)}, 1)
    # private: a shared cache must never keep someone's message
    return Response(
        audio, media_type=media_type(message.recording), headers={"Cache-Control": "private, no-store"}
    )


@router.get("/api/v1/messages/{message_id}/audio", tags=["messages"])
async def message_audio_api(request: Request, access: Messages, message_id: int) -> Response:
    """The message's recording as Asterisk stored it (audio/wav); the playback is audited."""
    return await _audio(request, access, message_id)


@router.get("/messages/{message_id}/audio", include_in_schema=False)
async def message_audio(request: Request, access: Messages, message_id: int) -> Response:
    return await _audio(request, access, message_id)


# A change needs the role's reach (403, audited, as for reads: LOG-3) and the form's CSRF token.
Posting = Annotated[Viewer, Depends(check_csrf)]


async def _passed_on(request: Request, viewer: Viewer, message_id: int) -> Any:
    found = await _message(request, viewer, message_id, "messages.passed_on")
    own = found.for_person == viewer.person_id or found.for_ext in viewer.org.lines_of.get(
        viewer.person_id, ()
    )
    if not (own or viewer.role == "admin"):  # heads and auditors read; the recipient passes it on
        detail = "XFER-3: only the person a message is for, or an administrator, passes it on"
        await refused(request, viewer, "messages", {"id": str(message_id)}, detail)
    done = await mark_message_done(console(request).engine, message_id, viewer.account)
    await record(viewer, "messages.passed_on", {"id": str(message_id)}, 1 if done else 0)
    if request.url.path.startswith("/api/"):
        if not done:
            raise HTTPException(409, f"message {message_id}: already passed on")
        return {"id": message_id, "passed_on_by": viewer.account}
    return RedirectResponse("/messages" if done else "/messages?problem=already_passed_on", status_code=303)


@router.post("/api/v1/messages/{message_id}/passed-on", tags=["messages"])
async def passed_on_api(request: Request, _access: Messages, viewer: Posting, message_id: int) -> Any:
    """Mark a message passed on (XFER-3); 409 if it already was."""
    return await _passed_on(request, viewer, message_id)


@router.post("/messages/{message_id}/passed-on", include_in_schema=False)
async def passed_on_form(request: Request, _access: Messages, viewer: Posting, message_id: int) -> Any:
    return await _passed_on(request, viewer, message_id)
