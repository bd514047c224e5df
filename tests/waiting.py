"""Waiting in a test for what another task or process does a moment later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(check: Callable[[], object], timeout: float = 5.0, poll_s: float = 0.05) -> bool:
    """True once `check()` is, False if `timeout` passes first: for what one phone logs a moment
    after another phone of the same call."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


async def until(check: Callable[[], object], timeout: float = 10.0, poll_s: float = 0.02) -> None:
    """Return once `check()` is true; fail the test if `timeout` passes first."""
    if not await eventually(check, timeout, poll_s):
        raise AssertionError(f"condition not reached within {timeout} s")
