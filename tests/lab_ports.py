"""Which ports this test process's lab uses, so that parallel suites and workers never share one."""

from __future__ import annotations

import os

# Every lab port is shifted by the offset (LabPorts); a lab spans less than 2,000 ports.
WORKER_STRIDE = 2000


def suite_offset() -> int:
    """CALLGUARD_TEST_PORT_OFFSET (default 100: beside a lab on the default ports), plus 2,000 per
    pytest-xdist worker (`scripts/test` runs two), so each worker runs its own lab."""
    base = int(os.environ.get("CALLGUARD_TEST_PORT_OFFSET", "100"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return base + WORKER_STRIDE * int(worker or 0)
