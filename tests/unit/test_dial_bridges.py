"""A ringing leg waits in one of callguard's own holding bridges, not in Asterisk's single shared
dial bridge (issue 12: with ~1,000 legs ringing in that one bridge, Asterisk's answers slowed to
seconds and ANS-1's CANCELs came p99 13 s late). The lab proof is `bench-rings --hold`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from callguard.ari import AriError, AriGone
from callguard.calls import dial_bridges
from callguard.calls.call import BRIDGE_PREFIX
from callguard.calls.dial_bridges import DIAL_BRIDGES, dial_bridge_id, is_dial_bridge


class Bridges:
    """Just the two bridge requests `join` makes, answering as Asterisk would."""

    def __init__(self, existing: set[str] | None = None, broken: bool = False) -> None:
        self.existing = existing if existing is not None else set()
        self.broken = broken
        self.requests: list[tuple[Any, ...]] = []

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        self.requests.append(("add", bridge_id, tuple(channel_ids)))
        if self.broken:
            raise AriError("POST /bridges/x/addChannel: TimeoutError")
        if bridge_id not in self.existing:
            raise AriGone("Bridge not found", 404)

    async def create_bridge(self, bridge_id: str, kind: str) -> None:
        self.requests.append(("create", bridge_id, kind))
        self.existing.add(bridge_id)


def test_a_leg_always_gets_the_same_bridge_and_the_legs_spread_over_all_of_them() -> None:
    legs = [f"node1-1795446393.{n}-leg1" for n in range(1000)]
    assert [dial_bridge_id("node1", leg) for leg in legs] == [dial_bridge_id("node1", leg) for leg in legs]
    per_bridge = Counter(dial_bridge_id("node1", leg) for leg in legs)
    assert len(per_bridge) == DIAL_BRIDGES
    assert max(per_bridge.values()) < 2 * 1000 / DIAL_BRIDGES  # no bridge becomes the shared one


def test_adoption_never_takes_a_dial_bridge_for_a_call_bridge() -> None:
    bridge_id = dial_bridge_id("node1", "node1-1.0-leg1")
    assert is_dial_bridge(bridge_id) and not bridge_id.startswith(BRIDGE_PREFIX)


async def test_joining_creates_the_holding_bridge_when_asterisk_has_none() -> None:
    ari = Bridges()
    await dial_bridges.join(ari, "node1", "node1-1.0-leg1")  # type: ignore[arg-type]
    bridge_id = dial_bridge_id("node1", "node1-1.0-leg1")
    assert ari.requests == [
        ("add", bridge_id, ("node1-1.0-leg1",)),
        ("create", bridge_id, "holding"),
        ("add", bridge_id, ("node1-1.0-leg1",)),
    ]
    await dial_bridges.join(ari, "node1", "node1-1.0-leg1")  # type: ignore[arg-type]
    assert ari.requests[-1] == ("add", bridge_id, ("node1-1.0-leg1",)) and len(ari.requests) == 4


async def test_a_bridge_that_cannot_be_joined_never_fails_the_call() -> None:
    ari = Bridges(broken=True)
    await dial_bridges.join(ari, "node1", "node1-1.0-leg1")  # type: ignore[arg-type]
    assert [r[0] for r in ari.requests] == ["add"]  # then the leg is dialled all the same
