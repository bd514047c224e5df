"""The whole suite runs in a local time zone other than UTC, where it is about noon.

callguard stores times in UTC and shows and bounds them in local time (the wallboard's day, a
month's bill, office hours). On a UTC machine a mix-up of the two passes unseen, and it did: the
wallboard's day began at 08:00 on a PBX in Beijing. At noon local, the records tests make ("an
hour ago") are today's and this month's whenever the suite runs. The lab's processes (Asterisk,
callguard) inherit the zone. CALLGUARD_TEST_TZ names another zone (e.g. Asia/Shanghai) to run in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest


def _noon_zone() -> str:
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # hours east of UTC, -12..+11
    return f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-8 is UTC+8


def pytest_configure(config: pytest.Config) -> None:
    os.environ["TZ"] = os.environ.get("CALLGUARD_TEST_TZ") or _noon_zone()
    time.tzset()


@pytest.fixture
def set_zone() -> Iterator[Callable[[str], None]]:
    """`set_zone("UTC")`: the process's local zone for one test; the suite's is back after it."""
    saved = os.environ.get("TZ")

    def choose(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield choose
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()
