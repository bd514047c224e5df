"""The MQTT publisher against a real mosquitto (issue 12): events published several at a time
reach a durable subscriber in order, and a broker restart in the middle of a burst loses none."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callguard.config import MqttSettings
from callguard.events.mqtt import MqttPublisher
from callguard.lab.mosquitto import mosquitto_command
from tests.integration.harness import MqttWatch, watch_mqtt
from tests.lab_ports import suite_offset
from tests.waiting import until

USER, PASSWORD = "callguard", "mqtt-test-password"
# Beside the suite's own lab broker (1883 + offset): this test's broker is its own.
PORT = 1883 + suite_offset() + 57
# Fewer than mosquitto's max_queued_messages (1,000) for a subscriber that is away: past that
# the broker itself drops (the subscriber reconnects after the broker's restart too).
BURST, ALL = 600, 900


class Broker:
    def __init__(self, state_dir: Path, port: int = PORT, password: str = PASSWORD) -> None:
        self._argv = mosquitto_command(state_dir, port, USER, password)
        self._port = port
        self._log = state_dir / "mosquitto.out"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as out:
            self._proc = subprocess.Popen(self._argv, stdout=out, stderr=subprocess.STDOUT)
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self._port), 0.2):
                return
            assert self._proc.poll() is None, self._log.read_text()
            subprocess.run(["sleep", "0.05"], check=True)
        raise AssertionError(f"mosquitto did not listen on {self._port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()  # SIGTERM: mosquitto saves its persistent sessions
            self._proc.wait(10)
            self._proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@contextlib.asynccontextmanager
async def running(*coros: object) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coros]  # type: ignore[call-overload]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def seqs(watch: MqttWatch) -> list[int]:
    return [int(data["seq"]) for topic, data in watch.messages if topic.endswith("/calls/c1/tick")]


def first_seen(values: list[int]) -> list[int]:
    """QoS 1 is at least once: an event unacknowledged at the outage is sent again."""
    seen: dict[int, None] = {}
    for v in values:
        seen.setdefault(v)
    return list(seen)


async def test_a_broker_restart_mid_burst_loses_no_event_and_keeps_their_order(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mqtt")  # aiomqtt's logger
    settings = MqttSettings(
        port=PORT, username=USER, password=PASSWORD, topic_prefix="t", reconnect_max_s=0.5
    )
    publisher = MqttPublisher(settings, "n")
    watch, ready = MqttWatch(), asyncio.Event()
    subscriber = watch_mqtt("127.0.0.1", PORT, "t/#", watch, ready, (USER, PASSWORD))
    async with running(subscriber, publisher.run()):
        await asyncio.wait_for(ready.wait(), 10)
        await until(lambda: publisher.connected, timeout=30)
        for seq in range(BURST):
            publisher.publish("call.tick", {"call_id": "c1", "seq": seq, "caller": "陈杰"})
        while publisher.published < 50:  # the burst is on its way, most of it not yet sent
            await asyncio.sleep(0.001)
        broker.stop()  # blocks the loop: what is in flight now is never acknowledged
        assert publisher.queued > 0
        for seq in range(BURST, ALL):  # while the broker is down: they wait in the outbox
            publisher.publish("call.tick", {"call_id": "c1", "seq": seq, "caller": "陈杰"})
        await until(lambda: not publisher.connected, timeout=30)
        broker.start()
        await until(lambda: publisher.queued == 0 and set(seqs(watch)) >= set(range(ALL)), timeout=30)
    assert first_seen(seqs(watch)) == list(range(ALL))
    assert publisher.published >= ALL and publisher.dropped == 0
    assert all(data["caller"] == "陈杰" for _, data in watch.messages if "seq" in data)
    # 20 awaiting their PUBACK is by design: aiomqtt's warning past 10 was a stderr line an event.
    assert not [r.getMessage() for r in caplog.records if "pending publish calls" in r.getMessage()]
