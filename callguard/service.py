"""`callguard run`: wires config, store, MQTT, AMI, ARI and the call manager together."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import structlog

from callguard.ami import AmiWatcher
from callguard.ari import AriClient, AriSupervisor
from callguard.calls import CallManager
from callguard.calls.emergency import EmergencyCalls
from callguard.config import Config
from callguard.events import MqttPublisher
from callguard.logs import Emitter
from callguard.policy import Directory, OutboundPolicy, PinBook
from callguard.store import RecordWriter, make_engine

log = structlog.get_logger("callguard")


def _safe_url(url: str) -> str:
    # Never log a database password.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _pin_book(config: Config) -> PinBook:
    if config.pin_file is None:
        return PinBook()
    return PinBook(
        bytes.fromhex(config.pin_file.salt), {entry.hash: entry.person for entry in config.pin_file.pins}
    )


async def run_service(config: Config) -> None:
    directory = Directory(config.directory)
    engine = make_engine(config.database.url)
    # The writer applies migrations (Alembic) before its first write, retrying while the
    # database is away; records wait in the journal meanwhile.
    writer = RecordWriter(
        engine,
        Path(config.database.journal),
        config.database.retry_interval_s,
        label=_safe_url(config.database.url),
    )
    publisher = MqttPublisher(config.mqtt, config.service.node) if config.mqtt.enabled else None
    emit = Emitter(publisher)

    supervisor: AriSupervisor | None = None

    def current_ari() -> AriClient:
        assert supervisor is not None
        return supervisor.client  # raises NotConnected while Asterisk is away

    node = config.service.node
    manager = CallManager(
        directory,
        config.calls,
        node,
        current_ari,
        emit,
        writer.submit,
        close_unobserved=lambda still_open: writer.close_unobserved(node, still_open),
        outbound=OutboundPolicy(directory, config.outbound, _pin_book(config)),
        language=config.service.language,
    )
    supervisor = AriSupervisor(config.ari, manager.on_event, manager.adopt)

    tasks = [
        asyncio.create_task(supervisor.run(), name="ari"),
        asyncio.create_task(writer.run(), name="store"),
    ]
    if publisher is not None:
        tasks.append(asyncio.create_task(publisher.run(), name="mqtt"))
    if config.ami.enabled:
        emergency = EmergencyCalls(directory, node, emit, writer.submit)
        watcher = AmiWatcher(config.ami, on_user_event=emergency.on_user_event)
        tasks.append(asyncio.create_task(watcher.run(), name="ami"))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "service.started",
        node=config.service.node,
        extensions=len(directory.extensions()),
        ari=config.ari.url,
        database=_safe_url(config.database.url),
    )
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not waiter and task.exception() is not None:
            log.error("service.task_failed", task=task.get_name(), error=repr(task.exception()))
    # Calls stay up in Asterisk; the next callguard re-adopts them. Records already finished are flushed.
    await manager.shutdown()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await writer.flush()
    await engine.dispose()
    log.info("service.stopped", active_calls=manager.active_calls)
