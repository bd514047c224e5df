"""`callguard run`: wires config, store, MQTT, AMI, ARI and the call manager together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callguard.ami import AmiWatcher
from callguard.ari import AriClient, AriSupervisor
from callguard.calls import CallManager
from callguard.calls.budgets import BudgetKeeper
from callguard.calls.pin_lockouts import PinLockouts, pin_guard
from callguard.config import Config
from callguard.dialplan_calls import CdrImporter, DialplanCalls, DialplanRecords
from callguard.dialplan_calls.mapping import Rate
from callguard.events import MqttPublisher
from callguard.events.notifier import Emitter
from callguard.metrics import LiveSources, serve_metrics
from callguard.policy import AnsweringPolicy, Directory, InboundPolicy, Numbering, OutboundPolicy, PinBook
from callguard.policy.ladder import Ladder
from callguard.policy.masking import number_keeper
from callguard.policy.tariffs import TariffTable
from callguard.policy.toll import counted_by_toll_guard
from callguard.store import RecordWriter, list_calls, make_engine, migrate
from callguard.store.blocklist import BlocklistKeeper

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
        {entry.person: entry.hash for entry in config.pin_file.pins}, config.outbound.pin_min_digits
    )


async def _recent_outside_calls(engine: AsyncEngine) -> list[tuple[str, float]]:
    """(line, monotonic start) of the last hour's outside calls, so that a restart does not
    reset SEC-3's hourly limits. An unreachable database only loses that."""
    now_wall, now_mono = datetime.now(UTC), time.monotonic()
    try:
        async with asyncio.timeout(5):  # never hold up the start of call handling
            await migrate(engine)
            calls = await list_calls(engine, since=now_wall - timedelta(hours=1), limit=100_000)
    except Exception as exc:  # noqa: BLE001 - any database failure: start without the history
        log.warning("toll_guard.history_unavailable", error=repr(exc))
        return []
    out = []
    for call in calls:
        counted = counted_by_toll_guard(call["direction"], call["number_class"], call["disposition"])
        if not counted or not call["started_at"]:
            continue
        age = (now_wall - datetime.fromisoformat(call["started_at"])).total_seconds()
        # Per line, as live counting is: never the caller ID a phone claimed.
        out.append((call.get("line") or call["caller"]["number"], now_mono - age))
    return out


async def _first_budgets(budgets: BudgetKeeper) -> None:
    """LOG-4: an exhausted budget holds from the first call after a restart."""
    try:
        async with asyncio.timeout(5):
            await budgets.refresh()
    except Exception as exc:  # noqa: BLE001 - start anyway; the keeper retries every few seconds
        log.warning("budgets.unavailable", error=repr(exc))


def _rate(tariffs: TariffTable) -> Rate:
    """LOG-4 for the dialplan's outside calls: the same tariff table prices them."""

    def rate(number: str, number_class: str, at: datetime, talk_s: float) -> tuple[Decimal, str] | None:
        rated = tariffs.rate(number, number_class, at, talk_s)
        return (rated.cost, rated.tariff) if rated is not None else None

    return rate


def _cdr_importer(
    config: Config, engine: AsyncEngine, records: DialplanRecords, emit: Emitter, writer: RecordWriter
) -> CdrImporter | None:
    if not config.cdr.enabled:
        return None
    path = Path(config.cdr.file)
    path = path if path.is_absolute() else config.source.parent / path
    return CdrImporter(engine, path, records, config.service.node, emit, writer.ensure_schema)


async def _every(seconds: float, request: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        request()


@dataclass
class _Service:
    """Everything `callguard run` builds: adapters, policies and the call manager."""

    config: Config
    directory: Directory
    engine: AsyncEngine
    writer: RecordWriter
    publisher: MqttPublisher | None
    emit: Emitter
    blocklist: BlocklistKeeper
    pin_lockouts: PinLockouts
    budgets: BudgetKeeper
    importer: CdrImporter | None
    watcher: AmiWatcher | None
    manager: CallManager
    supervisor: AriSupervisor


def _build_store(config: Config) -> tuple[AsyncEngine, RecordWriter, MqttPublisher | None, Emitter]:
    engine = make_engine(config.database.url)
    publisher = MqttPublisher(config.mqtt, config.service.node) if config.mqtt.enabled else None
    # SEC-2: [mqtt] mask_numbers (default on) hides outside numbers from dashboards.
    emit = Emitter(publisher, number_keeper(config) if config.mqtt.mask_numbers else None)
    # The writer applies migrations (Alembic) before its first write, retrying while the
    # database is away; records wait in the journal meanwhile.
    writer = RecordWriter(
        engine,
        Path(config.database.journal),
        config.database.retry_interval_s,
        label=_safe_url(config.database.url),
        on_alert=emit,  # alert.record_rejected/records_dropped
        memory_max=config.database.memory_queue_max,
        ladder=Ladder.from_config(config),  # LOG-5: violations are stepped as they are stored
        write_interval_s=config.database.write_interval_ms / 1000,
    )
    return engine, writer, publisher, emit


def _build_dialplan(
    config: Config,
    directory: Directory,
    outbound: OutboundPolicy,
    engine: AsyncEngine,
    writer: RecordWriter,
    emit: Emitter,
) -> tuple[CdrImporter | None, AmiWatcher | None]:
    """LOG-1: calls the dialplan handles alone, live (AMI) and from the CDR after a time away."""
    records = DialplanRecords(directory, config.outbound, config.service.node, _rate(outbound.tariffs))
    dialplan_calls = DialplanCalls(records, emit, writer.submit)
    importer = _cdr_importer(config, engine, records, emit, writer)
    if not config.ami.enabled:
        return importer, None
    on_connected = importer.request if importer else None
    return importer, AmiWatcher(
        config.ami, on_user_event=dialplan_calls.on_user_event, on_connected=on_connected
    )


def _build(config: Config) -> _Service:
    directory = Directory(config.directory)
    engine, writer, publisher, emit = _build_store(config)
    node = config.service.node
    inbound = InboundPolicy(directory, config.inbound, Numbering(config.outbound.numbering))
    blocklist = BlocklistKeeper(engine, inbound, config.inbound.blocklist_refresh_s)
    pin_lockouts = PinLockouts(pin_guard(config.outbound), engine)  # OUT-3, kept in the database
    outbound = OutboundPolicy(directory, config.outbound, _pin_book(config), TariffTable(config.tariffs))
    importer, watcher = _build_dialplan(config, directory, outbound, engine, writer, emit)
    budgets = BudgetKeeper(engine, outbound, config.budgets, node, emit)  # LOG-4
    supervisor: AriSupervisor | None = None

    def current_ari() -> AriClient:
        assert supervisor is not None
        return supervisor.client  # raises NotConnected while Asterisk is away

    manager = CallManager(
        directory,
        config.calls,
        node,
        current_ari,
        emit,
        writer.submit,
        close_unobserved=lambda still_open: writer.close_unobserved(node, still_open),
        outbound=outbound,
        language=config.service.language,
        inbound=inbound,
        block=blocklist.block,
        answering=AnsweringPolicy(directory, config.answering),
        device_state=watcher.state_of if watcher is not None else None,
        pin_lockouts=pin_lockouts,
        charge=budgets.charge,
        supervision=config.supervision,  # LOG-6
    )
    budgets.live = manager.live_records

    async def on_ari_connected(client: AriClient) -> None:
        if importer is not None:
            importer.request()  # LOG-1: what the dialplan handled while ARI was away
        await manager.adopt(client)

    supervisor = AriSupervisor(config.ari, manager.on_event, on_ari_connected)
    parts = (blocklist, pin_lockouts, budgets, importer, watcher, manager, supervisor)
    return _Service(config, directory, engine, writer, publisher, emit, *parts)


async def _restore_state(svc: _Service) -> None:
    """What must hold from the first call after a restart: SEC-3's last hour, OUT-3's lockouts,
    LOG-4's exhausted budgets."""
    svc.manager.remember_outside_calls(await _recent_outside_calls(svc.engine))
    await svc.pin_lockouts.load(datetime.now(UTC))  # after the migrations _recent_outside_calls ran
    await _first_budgets(svc.budgets)
    if svc.importer is not None:
        svc.importer.request()  # also when Asterisk is away: its CDR file may be readable


async def _serve_metrics(svc: _Service) -> web.AppRunner | None:
    publisher, manager, writer = svc.publisher, svc.manager, svc.writer
    return await serve_metrics(
        svc.config.metrics,
        LiveSources(
            call_states=manager.call_states,
            sessions_alive=lambda: manager.active_calls,
            journal_backlog=writer.journal_size,
            memory_backlog=lambda: writer.in_memory,
            mqtt_outbox=lambda: publisher.queued if publisher else 0,
            mqtt_connected=lambda: publisher.connected if publisher else False,
            ari_connected=svc.supervisor.connected.is_set,
        ),
    )


def _freeze_start_up_objects() -> None:
    """A full garbage collection walks every object the process holds, and most of them are the
    libraries, configuration and schema loaded at start-up, which live as long as the process.
    At 100 calls/s one came every few seconds and stopped the event loop for 50-70 ms: the whole
    of the PDD's p99 (issue 12). Collected once and frozen, they are never walked again."""
    gc.collect()
    gc.freeze()


def _start_tasks(svc: _Service) -> list[asyncio.Task[None]]:
    tasks = [
        asyncio.create_task(svc.supervisor.run(), name="ari"),
        asyncio.create_task(svc.writer.run(), name="store"),
        asyncio.create_task(svc.blocklist.run(), name="blocklist"),
        asyncio.create_task(svc.budgets.run(), name="budgets"),
    ]
    if svc.publisher is not None:
        tasks.append(asyncio.create_task(svc.publisher.run(), name="mqtt"))
    if svc.watcher is not None:
        tasks.append(asyncio.create_task(svc.watcher.run(), name="ami"))
    if svc.importer is not None:
        every = _every(svc.config.cdr.import_every_s, svc.importer.request)
        tasks.append(asyncio.create_task(every, name="cdr"))
    return tasks


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Until SIGTERM/SIGINT, or a task ends (which it only does by failing)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not waiter and task.exception() is not None:
            log.error("service.task_failed", task=task.get_name(), error=repr(task.exception()))


async def _stop(svc: _Service, tasks: list[asyncio.Task[None]]) -> None:
    # Calls stay up in Asterisk; the next callguard re-adopts them. Records already finished are flushed.
    await svc.manager.shutdown()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await svc.pin_lockouts.flush()
    if svc.importer is not None:
        await svc.importer.close()
    await svc.writer.flush()
    await svc.engine.dispose()


async def run_service(config: Config) -> None:
    svc = _build(config)
    await _restore_state(svc)
    metrics_server = await _serve_metrics(svc)
    _freeze_start_up_objects()
    tasks = _start_tasks(svc)
    stop = _stop_on_signals()  # before "started": a supervisor may stop callguard as soon as it reads it
    log.info(
        "service.started",
        node=config.service.node,
        extensions=len(svc.directory.extensions()),
        ari=config.ari.url,
        database=_safe_url(config.database.url),
    )
    await _until_stopped(stop, tasks)
    await _stop(svc, tasks)
    if metrics_server is not None:
        await metrics_server.cleanup()
    log.info("service.stopped", active_calls=svc.manager.active_calls)
