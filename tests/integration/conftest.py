"""One lab for the whole integration suite, on ports shifted by 100 so it can run beside a demo lab."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from callguard.lab import Lab, LabPorts
from tests.integration.harness import AriWatch, Harness, MqttWatch, watch_ari, watch_mqtt
from tests.lab_ports import suite_offset

NO_ANSWER_TIMEOUT_S = 3


# Short limits so that OUT-4 and SEC-3 show within seconds; the security department's quiet
# hours (OUT-7) are a window around now, so that its reminder plays whenever the suite runs.
DURATION_LIMIT_S = 4
DURATION_WARN_BEFORE_S = 2
# OUT-3: wrong authorization codes on one line (or its person's lines) that lock PIN entry.
PIN_LOCKOUT_AFTER = 4


# SEC-1: a fourth call within ten minutes from one outside number blocks it; the blocklist
# edited with `callguard block` applies within half a second.
AUTO_BLOCK_CALLS = 3
# ANS-1 at a short cadence (3 rings of 0.3 s) so that rollovers take about a second; the
# office is always open here (ANS-7 has its own test with other hours).
RINGS = 3
RING_CADENCE_S = 0.3
ALWAYS_OPEN = 'days = [1, 2, 3, 4, 5, 6, 7]\nstart = "00:00"\nend = "24:00"\n'


def answering_test_config(cadence_s: float = RING_CADENCE_S, office_hours: str = ALWAYS_OPEN) -> str:
    return f"""[answering]
rings = {RINGS}
ring_cadence_s = {cadence_s}
offline_after_s = 1.5
message_max_s = 20

[answering.office_hours]
{office_hours}"""


INBOUND_TEST_CONFIG = f"""[inbound]
auto_block_calls = {AUTO_BLOCK_CALLS}
auto_block_window_min = 10
auto_block_min = 30
blocklist_refresh_s = 0.5
"""
EXTRA_TEST_CONFIG = INBOUND_TEST_CONFIG + "\n" + answering_test_config()


def _hhmm(hour: int) -> str:
    return f"{hour % 24:02d}:00"


def outbound_test_config() -> str:
    hour = datetime.now().hour
    return f"""digit_timeout_s = 3
ring_timeout_s = 15
# International stays refused outright for those below its class (no PIN can lift it here).
pin_classes = ["national", "hk_macau"]
# OUT-3 lockout after {PIN_LOCKOUT_AFTER} wrong codes: test_outbound's lockout test locks 2004 (and
# 吴芳); 1003's test types three wrong codes and must stay below it.
pin_lockout_after = {PIN_LOCKOUT_AFTER}

[outbound.durations.local]
limit_s = {DURATION_LIMIT_S}
warn_before_s = {DURATION_WARN_BEFORE_S}

[outbound.durations.national]
limit_s = {DURATION_LIMIT_S}
warn_before_s = {DURATION_WARN_BEFORE_S}
hard_cap = true

[[outbound.quiet_hours]]
departments = ["security"]
start = "{_hhmm(hour - 2)}"
end = "{_hhmm(hour + 2)}"
action = "remind"
"""


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_dir = tmp_path_factory.mktemp("lab")
    lab = Lab(
        state_dir,
        # Another offset lets a second suite (a colleague's, a helper's, another worker) run beside.
        LabPorts(offset=suite_offset()),
        calls={"no_answer_timeout_s": NO_ANSWER_TIMEOUT_S},
        node="labtest",
        outbound_config=outbound_test_config(),
        extra_config=EXTRA_TEST_CONFIG,
    )
    lab.up(phones=False)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
async def harness(lab: Lab, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(lab, tmp_path)
    # Every test starts with callguard connected, whatever the previous test did to it.
    if "callguard" not in (lab.state.pids if lab.state else {}):
        lab.start_controller()
    lab.wait_controller_connected()
    yield h
    await h.close()


@pytest.fixture
async def mqtt(lab: Lab) -> AsyncIterator[MqttWatch]:
    assert lab.state is not None
    watch = MqttWatch()
    ready = asyncio.Event()
    task = asyncio.create_task(
        watch_mqtt(
            lab.state.mqtt_host,
            lab.state.mqtt_port,
            "callguard/labtest/#",
            watch,
            ready,
            auth=(lab.state.mqtt_user, lab.state.mqtt_password),
        )
    )
    await asyncio.wait_for(ready.wait(), 10)
    yield watch
    task.cancel()


@pytest.fixture
async def ari_watch(lab: Lab) -> AsyncIterator[AriWatch]:
    assert lab.state is not None
    watch = AriWatch()
    ready = asyncio.Event()
    task = asyncio.create_task(
        watch_ari(lab.state.ari_url, lab.state.ari_user, lab.state.ari_password, watch, ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    yield watch
    task.cancel()
