"""Waiting in a test for what another task or process does a moment later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], object], timeout: float = 10.0, poll_s: float = 0.02) -> None:
    """Return once `check()` is true; fail the test if `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(poll_s)
