"""ARI REST requests over the event websocket (Asterisk 20.14, 21.9, 22.4 and later).

Each request is a `RESTRequest` message and its answer a `RESTResponse` event on the same
websocket, matched by `request_id`. This saves an HTTP request per action on both sides:
no session, header parsing or authentication per request in Asterisk, no connection pool
here. The event reader hands every `RESTResponse` to `deliver`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from callguard.ari.errors import AriError, raise_for_status

JSON = dict[str, Any]


class WebsocketClosed(Exception):
    """The websocket carrying the request closed before its answer came."""


class NoAnswer(Exception):
    """The request's timeout passed before its answer came."""


def _expire(future: asyncio.Future[JSON]) -> None:
    if not future.done():
        future.set_exception(NoAnswer())


class WsRest:
    """Requests over one event websocket; fails every pending request when it closes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, timeout_s: float) -> None:
        self._ws = ws
        self._timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[JSON]] = {}
        self._ids = itertools.count(1)
        self._closed: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JSON | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send one request and wait for its answer, as AriClient's HTTP path does."""
        if self._closed is not None:
            raise AriError(f"{method} {path}: websocket closed ({self._closed})")
        request_id = str(next(self._ids))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JSON] = loop.create_future()
        self._pending[request_id] = future
        timeout = self._timeout_s if timeout_s is None else timeout_s
        # A plain timer on the answer, not asyncio.timeout: it is set for every request, and the
        # context manager cost as much as the rest of sending one (issue 12). The send itself only
        # waits when the socket's buffers are full; the websocket's heartbeat ends that wait.
        expiry = loop.call_later(timeout, _expire, future)
        try:
            await self._ws.send_frame(
                _message(request_id, method, path, params, body), aiohttp.WSMsgType.TEXT
            )
            response = await future
        except NoAnswer as exc:
            raise AriError(f"{method} {path}: no answer on the websocket within {timeout} s") from exc
        except WebsocketClosed as exc:
            raise AriError(f"{method} {path}: websocket closed ({exc})") from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise AriError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            expiry.cancel()
            self._pending.pop(request_id, None)
        return _result(method, path, response)

    def deliver(self, response: JSON) -> None:
        """A RESTResponse from the websocket; one for a request that timed out is dropped."""
        future = self._pending.get(str(response.get("request_id")))
        if future is not None and not future.done():
            future.set_result(response)

    def close(self, reason: str) -> None:
        """Fail every pending request now, and any later one at once: nothing waits for an
        answer that can no longer come."""
        if self._closed is None:
            self._closed = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WebsocketClosed(reason))
        self._pending.clear()


def _message(
    request_id: str, method: str, path: str, params: Mapping[str, str | int] | None, body: JSON | None
) -> bytes:
    # The uri has no leading slash; query parameters go as a list, so nothing needs URL-encoding.
    message: JSON = {
        "type": "RESTRequest",
        "request_id": request_id,
        "method": method,
        "uri": path.lstrip("/"),
    }
    if params:
        message["query_strings"] = [{"name": k, "value": str(v)} for k, v in params.items()]
    if body is not None:
        message["content_type"] = "application/json"
        message["message_body"] = orjson.dumps(body).decode()
    return orjson.dumps(message)


def _result(method: str, path: str, response: JSON) -> Any:
    """The answer's body, or the same AriGone/AriError as an HTTP answer with that status."""
    text = response.get("message_body") or ""
    detail = str(text or response.get("reason_phrase") or "")
    raise_for_status(method, path, int(response.get("status_code") or 0), detail)
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise AriError(f"{method} {path}: unreadable answer: {exc}") from exc
