"""One lab for the whole integration suite, on ports shifted by 100 so it can run beside a demo lab."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callguard.lab import Lab, LabPorts
from tests.integration.harness import Harness, MqttWatch, watch_mqtt

NO_ANSWER_TIMEOUT_S = 3


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_dir = tmp_path_factory.mktemp("lab")
    lab = Lab(
        state_dir, LabPorts(offset=100), calls={"no_answer_timeout_s": NO_ANSWER_TIMEOUT_S}, node="labtest"
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
        watch_mqtt(lab.state.mqtt_host, lab.state.mqtt_port, "callguard/labtest/#", watch, ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    yield watch
    task.cancel()
