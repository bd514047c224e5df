"""The MQTT publisher's outbox (issue 12): events are published several at a time and in order,
only an acknowledged one leaves the outbox, and payloads are the JSON json.dumps would write.
A broker restart against a real mosquitto: tests/integration/test_mqtt_publisher.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from callguard.config import MqttSettings
from callguard.events.mqtt import MqttPublisher
from callguard.events.mqtt_wire import MqttError
from callguard.jsontext import encode
from tests.waiting import until


class Broker:
    """Stands in for the broker's MqttConnection: records each publish as it is sent; the test
    acknowledges them (PUBACK) or makes the connection fail."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self._acks: dict[int, asyncio.Future[None]] = {}

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> asyncio.Future[None]:
        seq = json.loads(payload)["seq"]
        self.sent.append(seq)
        self._acks[seq] = asyncio.get_running_loop().create_future()
        return self._acks[seq]

    def ack(self, seq: int) -> None:
        self._acks[seq].set_result(None)

    def fail(self, seq: int) -> None:
        self._acks[seq].set_exception(MqttError("no acknowledgement from the broker within 5 s"))


def publisher(in_flight: int, outbox_size: int = 100) -> MqttPublisher:
    return MqttPublisher(MqttSettings(outbox_size=outbox_size), "n", in_flight=in_flight)


async def test_events_are_published_several_at_a_time_in_order_and_leave_when_acknowledged() -> None:
    pub, broker = publisher(in_flight=4), Broker()
    for seq in range(10):
        pub.publish("call.tick", {"call_id": "c1", "seq": seq})
    drain = asyncio.create_task(pub._drain(broker))  # type: ignore[arg-type]
    await until(lambda: broker.sent == [0, 1, 2, 3])  # four await their PUBACK at once
    assert (pub.published, pub.queued) == (0, 10)
    broker.ack(0)
    await until(lambda: broker.sent == [0, 1, 2, 3, 4])
    for seq in range(1, 10):
        await until(lambda seq=seq: seq in broker.sent)
        broker.ack(seq)
    await until(lambda: pub.published == 10)
    assert broker.sent == list(range(10)) and pub.queued == 0
    pub.publish("call.tick", {"call_id": "c1", "seq": 10})  # an idle drain wakes for a new event
    await until(lambda: broker.sent[-1:] == [10])
    drain.cancel()
    await asyncio.gather(drain, return_exceptions=True)


async def test_unacknowledged_events_go_back_to_the_outbox_head_in_order_when_the_broker_fails() -> None:
    pub, broker = publisher(in_flight=4), Broker()
    for seq in range(6):
        pub.publish("call.tick", {"call_id": "c1", "seq": seq})
    drain = asyncio.create_task(pub._drain(broker))  # type: ignore[arg-type]
    await until(lambda: len(broker.sent) == 4)
    broker.ack(0)
    await until(lambda: len(broker.sent) == 5)
    broker.ack(2)  # acknowledged, but after 1, which fails: it is sent again (at least once)
    broker.fail(1)
    with pytest.raises(MqttError):
        await drain
    assert (pub.published, pub.queued) == (1, 5)
    again = Broker()  # the next connection
    drain = asyncio.create_task(pub._drain(again))  # type: ignore[arg-type]
    await until(lambda: again.sent == [1, 2, 3, 4])
    for seq in (1, 2, 3, 4):
        again.ack(seq)
    await until(lambda: again.sent == [1, 2, 3, 4, 5])
    again.ack(5)
    await until(lambda: pub.published == 6 and pub.queued == 0)
    drain.cancel()
    await asyncio.gather(drain, return_exceptions=True)


async def test_a_full_outbox_drops_its_oldest_unsent_event_never_one_in_flight() -> None:
    pub, broker = publisher(in_flight=2, outbox_size=4), Broker()
    for seq in range(4):
        pub.publish("call.tick", {"call_id": "c1", "seq": seq})
    drain = asyncio.create_task(pub._drain(broker))  # type: ignore[arg-type]
    await until(lambda: broker.sent == [0, 1])
    pub.publish("call.tick", {"call_id": "c1", "seq": 4})  # full: 2 drops, 0 and 1 are on their way
    assert (pub.dropped, pub.queued) == (1, 4)
    for seq in (0, 1):
        broker.ack(seq)
    await until(lambda: broker.sent == [0, 1, 3, 4])
    drain.cancel()
    await asyncio.gather(drain, return_exceptions=True)


@dataclasses.dataclass
class Odd:
    x: int


@pytest.mark.parametrize(
    "fields",
    [
        {"caller": "陈杰", "reason": "dialled 138****8000", "talk_s": 12.5, "n": 3, "ok": True, "none": None},
        {"at": datetime(2026, 11, 23, 10, 0, tzinfo=UTC), "cost": Decimal("1.20"), "odd": Odd(1)},
        {"targets": ["1001", ("1002", 3)], "nested": {"a": [1, {"b": "é"}]}},
        {1: "non-str key", "big": 2**70},  # orjson refuses these: json.dumps writes them
    ],
)
def test_payloads_are_the_json_values_json_dumps_writes(fields: dict[Any, Any]) -> None:
    payload = encode({"event": "call.x", "node": "n", **fields})
    expected = json.dumps({"event": "call.x", "node": "n", **fields}, default=str, ensure_ascii=False)
    assert json.loads(payload) == json.loads(expected)
    assert "\\u" not in payload.decode()  # non-ASCII stays as it is
