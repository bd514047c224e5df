"""A call's facts kept in Asterisk, as wazo-calld's state persistor keeps its calls.

After every step the session writes the call's snapshot (`Call.snapshot()`, a JSON-safe dict)
into the channel variable `CG_CALL` of the caller's channel; a callguard started after a crash
reads it back and the call continues where it was, with its parties, hops, violations,
authorisation and matter code. The value is versioned, compact and bounded:

    cg1:<base64 of zlib-compressed JSON>

URL-safe base64 keeps the value to characters that survive ARI's query string and the dialplan alike
(a caller's name is Chinese, a dialled string may hold anything). Anything else read back
(another version, a cut or altered value, a zip bomb) is refused with one clear error: the
call is then re-adopted the old way, from the ids in Asterisk alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from callguard.ari.client import AriError

log = structlog.get_logger("callguard.calls")

VARIABLE = "CG_CALL"
VERSION = 1
PREFIX = f"cg{VERSION}:"
# Measured in the lab (Asterisk 22, ARI setChannelVar/getChannelVar): a value in the query
# string round-trips up to 4,000 characters (4,500: 400 Bad Request, the request line is
# ~4 KB); in a JSON body up to 40,000 (50,000: 413). Bounded for the query string, with room
# for a long channel id. A three-hop call with violations and a transfer takes ~1,200.
MAX_VALUE_CHARS = 3500
# What a value may inflate to: more is not a snapshot callguard wrote.
MAX_JSON_BYTES = 256 * 1024
_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class FactsError(ValueError):
    """A snapshot callguard cannot write or read back; the message says why, in one line."""


class ChannelVariables(Protocol):
    """The two ARI operations persistence needs (AriClient, or a fake in unit tests)."""

    async def set_channel_var(self, channel_id: str, name: str, value: str) -> None: ...
    async def get_channel_var(self, channel_id: str, name: str) -> str | None: ...


def encode(facts: dict[str, Any]) -> str:
    """The channel variable's value for `facts`; FactsError when it would be too long."""
    try:
        text = json.dumps(facts, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FactsError(f"{VARIABLE}: facts are not JSON: {exc}") from exc
    packed = base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode("ascii")
    value = PREFIX + packed
    if len(value) > MAX_VALUE_CHARS:
        raise FactsError(f"{VARIABLE}: {len(value)} characters, more than {MAX_VALUE_CHARS}")
    return value


def decode(value: str) -> dict[str, Any]:
    """The facts in a channel variable's value; FactsError for anything callguard did not write."""
    if not value.startswith(PREFIX):
        head = value.split(":", 1)[0][:16] if ":" in value else "no version"
        raise FactsError(f"{VARIABLE}: unknown format ({head}); this callguard reads {PREFIX}")
    if len(value) > MAX_VALUE_CHARS:
        raise FactsError(f"{VARIABLE}: {len(value)} characters, more than {MAX_VALUE_CHARS}")
    body = value[len(PREFIX) :]
    if not _URLSAFE_BASE64.fullmatch(body):
        raise FactsError(f"{VARIABLE}: unreadable: characters outside URL-safe base64")
    try:
        packed = base64.urlsafe_b64decode(body)
        inflater = zlib.decompressobj()
        text = inflater.decompress(packed, MAX_JSON_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise FactsError(f"{VARIABLE}: cut short or larger than {MAX_JSON_BYTES} bytes")
        facts = json.loads(text)
    except (binascii.Error, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FactsError(f"{VARIABLE}: unreadable: {exc}") from exc
    if not isinstance(facts, dict):
        raise FactsError(f"{VARIABLE}: not an object but {type(facts).__name__}")
    if facts.get("v") != VERSION:
        raise FactsError(f"{VARIABLE}: snapshot version {facts.get('v')!r}, this callguard reads {VERSION}")
    return facts


async def save(ari: ChannelVariables, channel_id: str, facts: dict[str, Any]) -> None:
    """Keep `facts` on `channel_id` (the caller's channel). FactsError when they cannot be
    encoded; AriError when Asterisk refuses (the channel may be gone): callers log, the call
    goes on with the previous snapshot."""
    await ari.set_channel_var(channel_id, VARIABLE, encode(facts))


async def load(
    ari: ChannelVariables, channel_id: str, accept: Callable[[dict[str, Any]], object] | None = None
) -> dict[str, Any] | None:
    """The facts kept on `channel_id`, or None when there are none callguard can use (none
    written yet, the channel gone, or a value it refuses, which is logged). `accept` (e.g. a
    trial `Call.restore`) vets the snapshot's contents: a well-formed value whose contents the
    engine cannot use (a key missing, a wrong type) is refused here too, not a crash later."""
    try:
        value = await ari.get_channel_var(channel_id, VARIABLE)
    except AriError as exc:
        log.warning("call.facts_unavailable", channel=channel_id, error=str(exc))
        return None
    if value is None:
        return None
    try:
        facts = decode(value)
        if accept is not None:
            vet(facts, accept)
    except FactsError as exc:
        log.warning("call.facts_refused", channel=channel_id, error=str(exc))
        return None
    return facts


def vet(facts: dict[str, Any], accept: Callable[[dict[str, Any]], object]) -> None:
    """FactsError (one line) when `accept` cannot use the facts, whatever it raises."""
    try:
        accept(facts)
    except Exception as exc:  # noqa: BLE001 - whatever the snapshot's contents break is a refusal
        raise FactsError(f"{VARIABLE}: snapshot unusable: {type(exc).__name__}: {exc}") from exc
