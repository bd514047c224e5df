"""/api/docs: the API's operations from its OpenAPI document, as a plain local page (no CDN)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callguard.web.deps import SignedIn, optional_viewer, page

router = APIRouter(include_in_schema=False)


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, methods in sorted(schema.get("paths", {}).items()):
        for method, op in methods.items():
            params = [p["name"] for p in op.get("parameters", [])]
            out.append(
                {"method": method.upper(), "path": path, "summary": op.get("summary", ""), "params": params}
            )
    return out


@router.get("/api/docs")
async def api_docs(request: Request) -> Response:
    # Public like the OpenAPI document itself: it lists endpoints, never data.
    viewer = await optional_viewer(request)
    return page(request, viewer, "docs.html", operations=operations(request.app.openapi()))


@router.get("/api/v1/me", include_in_schema=True, tags=["session"])
async def me(viewer: SignedIn) -> dict[str, Any]:
    """Who is signed in, with which role and reach: no records, so not audited."""
    return {
        "account": viewer.account,
        "role": viewer.role,
        "departments": sorted(viewer.departments),
        "sees_numbers": viewer.sees_numbers,
    }
