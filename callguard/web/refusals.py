"""Refusals a route decides itself, after `deps.require` let the role in (LOG-3): a record the
viewer may not reach, or a change their role or person may not make. Each is audited (count 0)
before the answer, as `require`'s refusals are. A record outside the viewer's reach answers
exactly as an absent one (404, same text): an id cannot be probed for existence."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import HTTPException, Request

from callguard.web.access import Viewer
from callguard.web.audit import record


async def not_found(viewer: Viewer, action: str, filters: dict[str, Any], detail: str) -> NoReturn:
    """404 for an absent record and for one the viewer may not reach alike; audited as the read
    or change asked for (`messages.play`, `bills.read`...) with count 0, as calls.read is."""
    await record(viewer, action, filters, 0)
    raise HTTPException(404, detail)


async def refused(
    request: Request, viewer: Viewer, what: str, filters: dict[str, Any], detail: str
) -> NoReturn:
    """403 for a change the viewer may not make on a record they may read; audited as
    `<what>.refused` like require()'s refusals, with the path asked (the path wins over filters)."""
    await record(viewer, f"{what}.refused", {**filters, "path": request.url.path}, 0)
    raise HTTPException(403, detail)
