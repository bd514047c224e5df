"""callguard's own MQTT client (events/mqtt_wire.py, issue 12) against a real mosquitto: TLS with
the broker's certificate verified, the console's subscriber on the same settings, the last will
on a stop, a refused password, and a broker that stops acknowledging."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from callguard.config import MqttSettings
from callguard.events.mqtt import MqttPublisher, client_options
from callguard.events.mqtt_wire import MqttError, connect, publish_packet
from tests.integration.harness import MqttWatch
from tests.integration.test_mqtt_publisher import Broker, running, until
from tests.lab_ports import suite_offset

USER, PASSWORD = "callguard", "mqtt-tls-password"
PORT = 1883 + suite_offset() + 58  # beside the suite's lab broker and test_mqtt_publisher's


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A CA of the test's own and a broker certificate it signed for 127.0.0.1 and localhost."""
    d = tmp_path / "tls"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", d / "ca.key", "-out", d / "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", d / "broker.key", "-out", d / "broker.csr")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", d / "broker.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", d / "san.ext", "-out", d / "broker.pem")  # fmt: skip
    return d


@pytest.fixture
def tls_broker(tmp_path: Path, certificates: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path, PORT, PASSWORD)
    conf = tmp_path / "mosquitto.conf"  # the lab's broker, its listener with TLS
    conf.write_text(
        conf.read_text()
        + f"cafile {certificates / 'ca.pem'}\ncertfile {certificates / 'broker.pem'}\n"
        + f"keyfile {certificates / 'broker.key'}\n"
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def settings(**overrides: object) -> MqttSettings:
    base: dict[str, object] = {"port": PORT, "username": USER, "password": PASSWORD, "topic_prefix": "t"}
    return MqttSettings(**{**base, **overrides})


@contextlib.asynccontextmanager
async def subscribed(mqtt: MqttSettings) -> AsyncIterator[MqttWatch]:
    """The console's subscriber (web/wallboard.py): aiomqtt on `client_options`, TLS included."""
    watch, ready = MqttWatch(), asyncio.Event()

    async def subscribe() -> None:
        async with aiomqtt.Client(
            mqtt.host, mqtt.port, identifier="wallboard-test", **client_options(mqtt)
        ) as c:
            await c.subscribe("t/#", qos=1)
            ready.set()
            async for msg in c.messages:
                watch.messages.append((str(msg.topic), {"raw": bytes(msg.payload or b"").decode()}))

    async with running(subscribe()):
        await asyncio.wait_for(ready.wait(), 10)
        yield watch


async def test_events_over_tls_reach_the_console_and_a_stop_leaves_status_offline(
    tls_broker: Broker, certificates: Path
) -> None:
    mqtt = settings(tls=True, ca_file=str(certificates / "ca.pem"))
    async with subscribed(mqtt) as watch:
        publisher = MqttPublisher(mqtt, "n")
        async with running(publisher.run()):
            await until(lambda: publisher.connected)
            for seq in range(50):
                publisher.publish("call.tick", {"call_id": "c1", "seq": seq, "caller": "陈杰"})
            await until(lambda: publisher.published == 50)
        # The publisher's task is cancelled (a stop): the broker publishes its will.
        await until(lambda: ("t/n/status", {"raw": "offline"}) in watch.messages)
    ticks = [data["raw"] for topic, data in watch.messages if topic == "t/n/calls/c1/tick"]
    assert len(ticks) == 50 and '"seq":49' in ticks[-1] and "陈杰" in ticks[0]
    statuses = [data["raw"] for topic, data in watch.messages if topic == "t/n/status"]
    assert statuses == ["online", "offline"]


async def test_a_broker_whose_certificate_is_not_trusted_is_refused(tls_broker: Broker) -> None:
    with pytest.raises(MqttError, match="CERTIFICATE_VERIFY_FAILED"):
        await connect(settings(tls=True), "callguard-n", None)  # the system's CAs: not the test CA


async def test_a_broker_that_refuses_the_password_says_so(tls_broker: Broker, certificates: Path) -> None:
    mqtt = settings(tls=True, ca_file=str(certificates / "ca.pem"), password="wrong")
    with pytest.raises(MqttError, match="not authorised|bad user name or password"):
        await connect(mqtt, "callguard-n", None)


async def test_a_broker_that_stops_acknowledging_fails_the_connection_within_its_timeout() -> None:
    """A broker that takes the connection but never acknowledges a PUBLISH (a hung broker, a
    half-open TCP connection): the events fail, so that the publisher reconnects and sends them
    again, instead of waiting for ever."""
    received = bytearray()

    async def hung_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # CONNECT
        writer.write(bytes([0x20, 2, 0, 0]))  # CONNACK, accepted
        while data := await reader.read(65536):
            received.extend(data)

    server = await asyncio.start_server(hung_broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        connection = await connect(settings(port=port), "callguard-n", None, timeout_s=1.0)
        ack = connection.publish("t/n/calls/c1/tick", b"{}")
        with pytest.raises(MqttError, match="no acknowledgement from the broker within 1 s"):
            await asyncio.wait_for(ack, 5)
        assert bytes(received).startswith(publish_packet("t/n/calls/c1/tick", b"{}", 1))
        with pytest.raises(MqttError):
            connection.publish("t/n/calls/c1/tick", b"{}")  # the connection is over
