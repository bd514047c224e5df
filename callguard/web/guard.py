"""LOG-3, enforced rather than hoped for: a request that passed `require(what)` and answers with
data (2xx) must have written its audit entry first; otherwise the answer is replaced by a 500.
No audit entry, no data, whatever a route forgets."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import structlog

log = structlog.get_logger()

# One per request: did it pass require() (a read), did it write an audit entry.
_READ: ContextVar[dict[str, bool] | None] = ContextVar("callguard_read", default=None)
_WITHHELD = b"LOG-3: this read was not written to the audit trail, so its data is withheld.\n"


def read_started() -> None:
    state = _READ.get()
    if state is not None:
        state["read"] = True


def read_audited() -> None:
    state = _READ.get()
    if state is not None:
        state["audited"] = True


class AuditGuard:
    """ASGI middleware: the outermost layer of the console's app (create_app installs it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"read": False, "audited": False, "withheld": False}
        token = _READ.set(state)

        async def guarded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                unaudited = state["read"] and not state["audited"]
                if unaudited and 200 <= message["status"] < 300:
                    log.error("console.unaudited_read", rule="LOG-3", path=scope["path"])
                    state["withheld"] = True
                    headers = [(b"content-type", b"text/plain; charset=utf-8")]
                    await send({"type": "http.response.start", "status": 500, "headers": headers})
                    await send({"type": "http.response.body", "body": _WITHHELD})
                    return
            if not state["withheld"]:
                await send(message)

        try:
            await self.app(scope, receive, guarded)
        finally:
            _READ.reset(token)
