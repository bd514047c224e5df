"""Where a leg waits while it rings: one of a few holding bridges of callguard's own.

ARI's /dial puts a channel that is in no bridge into Asterisk's single shared "dial bridge",
and every channel joining or leaving a bridge takes that bridge's lock and walks its members.
With hundreds of legs ringing at once, all in that one bridge, Asterisk's answers to callguard
slowed to seconds (issue 12, 1,000 calls held ringing: CANCELs p50 4.7 s and p99 13 s past the
ANS-1 limit, while the plain dialplan, which needs no bridge to ring, kept p99 at 20 ms). So
before it is dialled a leg joins one of DIAL_BRIDGES holding bridges, chosen by its id; Asterisk
then keeps it there while it rings, as it would in its own. When it answers, the call's bridge
takes it from there (ARI's addChannel leaves the bridge a channel is in); a leg that hears a
prompt first leaves its dial bridge before (session.py), so the prompt plays to it alone.

The bridges are created on first use (and again after Asterisk restarts) and kept: they are
empty when no call rings, and a restarted callguard finds its ringing legs still in them. Their
ids do not start with the call bridges' prefix, so adoption never takes them for orphans.
"""

from __future__ import annotations

import zlib
from contextlib import suppress

import structlog

from callguard.ari.client import AriActions, AriError, AriGone

log = structlog.get_logger("callguard.calls")

DIAL_BRIDGES = 256  # a few legs a bridge with 1,000 ringing (32: p99 1.8 s; 256: 1.5 s, README)
PREFIX = "cgdial-"


def dial_bridge_id(node: str, leg_id: str) -> str:
    """The same bridge for a leg every time (a restart included), the legs spread evenly."""
    return f"{PREFIX}{node}-{zlib.crc32(leg_id.encode()) % DIAL_BRIDGES:03d}"


def is_dial_bridge(bridge_id: str) -> bool:
    return bridge_id.startswith(PREFIX)


async def join(ari: AriActions, node: str, leg_id: str) -> None:
    """Put the leg in its dial bridge, creating the bridge when Asterisk has none by that id.
    Never fails the call: without it Asterisk rings the leg from its own shared bridge."""
    bridge_id = dial_bridge_id(node, leg_id)
    try:
        try:
            await ari.add_to_bridge(bridge_id, [leg_id])
        except AriGone:  # first use, or Asterisk restarted: create it and join again
            with suppress(AriError):  # another leg may have created it just now
                await ari.create_bridge(bridge_id, kind="holding")
            await ari.add_to_bridge(bridge_id, [leg_id])
    except AriError as exc:
        log.warning("call.dial_bridge_failed", bridge=bridge_id, error=str(exc))
