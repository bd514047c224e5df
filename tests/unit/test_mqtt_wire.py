"""The MQTT client's packets (events/mqtt_wire.py): what it writes, and acknowledgements however
the broker's bytes are split. Against a real mosquitto: tests/integration/test_mqtt_wire.py."""

from __future__ import annotations

import asyncio

import pytest

from callguard.events.mqtt_wire import (
    MqttConnection,
    MqttError,
    Will,
    _length,
    connect_packet,
    publish_packet,
)


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01")],
)
def test_remaining_length_is_seven_bits_a_byte(n: int, encoded: bytes) -> None:
    assert _length(n) == encoded  # MQTT 3.1.1, 2.2.3's table


def test_a_publish_is_qos_1_with_its_packet_id_and_the_payload_as_is() -> None:
    packet = publish_packet("cg/n/calls/c1/ended", "陈杰".encode(), 0x0102, retain=True)
    assert packet[0] == 0x33  # PUBLISH, QoS 1, retain
    assert packet[1] == len(packet) - 2
    assert packet[2:4] == b"\x00\x13" and packet[4:23] == b"cg/n/calls/c1/ended"
    assert packet[23:25] == b"\x01\x02" and packet[25:] == "陈杰".encode()
    big = publish_packet("t", b"x" * 200, 1)
    assert big[1:3] == _length(2 + 1 + 2 + 200) and len(big) == 3 + 205


def test_connect_carries_the_will_then_the_user_and_password() -> None:
    packet = connect_packet("callguard-n", "cg", "pw", Will("cg/n/status", b"offline"))
    assert packet[0] == 0x10
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    assert body[7] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02  # user, password, will retained QoS 1, clean
    assert body[10:] == (
        b"\x00\x0bcallguard-n" + b"\x00\x0bcg/n/status" + b"\x00\x07offline" + b"\x00\x02cg" + b"\x00\x02pw"
    )
    assert connect_packet("callguard-n", "", "", None)[9] == 0x02  # anonymous, no will: clean only


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def test_acknowledgements_split_anywhere_resolve_the_right_events_and_one_write_a_turn() -> None:
    connection, transport = MqttConnection(5.0), Transport()
    connection.connection_made(transport)
    acks = [connection.publish("t/a", b"{}") for _ in range(3)]
    assert transport.written == b""  # the loop turn's packets go out together, after it
    await asyncio.sleep(0)
    assert transport.written == b"".join(publish_packet("t/a", b"{}", i) for i in (1, 2, 3))
    stream = b"\x40\x02\x00\x02" + b"\xd0\x00" + b"\x40\x02\x00\x01"  # PUBACK 2, PINGRESP, PUBACK 1
    for byte in stream:
        connection.data_received(bytes([byte]))
    assert [a.done() for a in acks] == [True, True, False]
    connection.connection_lost(None)
    with pytest.raises(MqttError, match="the broker closed the connection"):
        await acks[2]
    with pytest.raises(MqttError):
        connection.publish("t/a", b"{}")


async def test_packet_ids_wrap_past_65535_and_skip_those_still_waiting() -> None:
    connection = MqttConnection(5.0)
    connection.connection_made(Transport())
    connection._next_id = 65534
    connection.publish("t", b"")  # 65535
    connection.publish("t", b"")  # wraps to 1
    assert list(connection._acks) == [65535, 1]
    connection._next_id = 65534
    connection.publish("t", b"")  # 65535 is waiting, 1 is waiting: 2
    assert list(connection._acks) == [65535, 1, 2]
    connection.close()


async def test_an_idle_connection_pings_and_one_whose_ping_goes_unanswered_ends() -> None:
    connection, transport = MqttConnection(5.0), Transport()
    connection.connection_made(transport)
    connection._last_sent -= 31  # nothing sent for half the keep-alive
    connection._watch()
    await asyncio.sleep(0)
    assert transport.written == b"\xc0\x00"  # PINGREQ
    connection.data_received(b"\xd0\x00")  # PINGRESP
    connection._watch()
    assert connection.error is None and not transport.closed
    connection._last_sent -= 31
    connection._watch()  # pings again; no answer this time
    assert connection._ping_sent is not None
    connection._ping_sent -= 6
    connection._watch()
    assert transport.closed and str(connection.error) == "no answer to a ping within 5 s"
