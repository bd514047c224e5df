"""Prometheus metrics of the call controller: counters fed by the Emitter and small hooks, gauges
read when scraped, served on `[metrics]` host/port (loopback, off unless configured)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callguard.config.metrics import MetricsSettings

# One registry of callguard's own (not the client library's global one): what a scrape shows is
# only what this module defines, and a test can read it directly.
REGISTRY = CollectorRegistry()

CALL_EVENTS = Counter(
    "callguard_call_events",
    "Call events emitted (call.started, call.ringing, call.answered, call.ended...), by event",
    ["event"],
    registry=REGISTRY,
)
CALLS_ENDED = Counter(
    "callguard_calls_ended", "Calls ended, by disposition", ["disposition"], registry=REGISTRY
)
DECISIONS = Counter(
    "callguard_decisions",
    "Decisions taken on calls (route, dial_out, refuse), by action and rule ID",
    ["action", "rule"],
    registry=REGISTRY,
)
VIOLATIONS = Counter(
    "callguard_violations",
    "Policy violations recorded, by rule ID (ANS-1, OUT-4...)",
    ["rule"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "callguard_alerts",
    "Alerts raised (toll_fraud, budget, caller_blocked, pin_lockout...), by alert",
    ["alert"],
    registry=REGISTRY,
)
ARI_CONNECTS = Counter(
    "callguard_ari_connects",
    "Successful ARI connections (every one after the first is a reconnect)",
    registry=REGISTRY,
)
ARI_REQUEST_SECONDS = Histogram(
    "callguard_ari_request_seconds",
    "ARI REST request latency, by HTTP method",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
MQTT_DROPPED = Counter(
    "callguard_mqtt_dropped_events", "MQTT events dropped because the outbox was full", registry=REGISTRY
)
MQTT_PUBLISHED = Counter(
    "callguard_mqtt_published_events", "MQTT events the broker acknowledged", registry=REGISTRY
)
RECORDS_WRITTEN = Counter(
    "callguard_records_written",
    "Call records written to the database (provisional and final)",
    registry=REGISTRY,
)

_UNSET = "none"


def observe_event(event: str, fields: dict[str, Any]) -> None:
    """The one choke point: every event the Emitter writes passes here, before any masking."""
    group, _, name = event.partition(".")
    if group == "alert":
        ALERTS.labels(name).inc()
        return
    if group != "call":
        return
    CALL_EVENTS.labels(name).inc()
    if name == "decision":
        DECISIONS.labels(str(fields.get("action") or _UNSET), str(fields.get("rule") or _UNSET)).inc()
    elif name == "violation":
        VIOLATIONS.labels(str(fields.get("rule") or _UNSET)).inc()
    elif name == "ended":
        CALLS_ENDED.labels(str(fields.get("disposition") or _UNSET)).inc()


@dataclass
class LiveSources:
    """What the controller reads when Prometheus scrapes: set by service.py at wiring time."""

    call_states: Callable[[], Iterable[str]] = lambda: ()  # the state of every live call
    sessions_alive: Callable[[], int] = lambda: 0
    journal_backlog: Callable[[], int] = lambda: 0  # records journaled, not yet in the database
    memory_backlog: Callable[[], int] = lambda: 0  # records waiting in memory
    mqtt_outbox: Callable[[], int] = lambda: 0
    mqtt_connected: Callable[[], bool] = lambda: False
    ari_connected: Callable[[], bool] = lambda: False


class _LiveCollector(Collector):
    """Gauges computed at scrape time from the live objects, so they can never drift."""

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        src = self.sources
        by_state = GaugeMetricFamily("callguard_calls", "Live calls, by state", labels=["state"])
        for state, count in sorted(Tally(src.call_states()).items()):
            by_state.add_metric([state], count)
        yield by_state
        yield GaugeMetricFamily("callguard_sessions_alive", "Call sessions alive", value=src.sessions_alive())
        yield GaugeMetricFamily(
            "callguard_journal_backlog",
            "Records in the journal, not yet in the database",
            value=src.journal_backlog(),
        )
        yield GaugeMetricFamily(
            "callguard_memory_backlog", "Records waiting in memory for the writer", value=src.memory_backlog()
        )
        yield GaugeMetricFamily("callguard_mqtt_outbox_depth", "MQTT events queued", value=src.mqtt_outbox())
        yield GaugeMetricFamily(
            "callguard_mqtt_connected", "1 when connected to the broker", value=src.mqtt_connected()
        )
        yield GaugeMetricFamily(
            "callguard_ari_connected", "1 when connected to ARI", value=src.ari_connected()
        )


_live = _LiveCollector(LiveSources())
REGISTRY.register(_live)


async def serve_metrics(settings: MetricsSettings, sources: LiveSources) -> web.AppRunner | None:
    """Serve /metrics on `[metrics]` host/port when configured (the caller cleans the runner up).
    It runs on the controller's event loop, so a scrape reads the live objects between two call
    events, never while one is changing them; a scrape is a few dict reads, no I/O."""
    _live.sources = sources
    if not settings.enabled:
        return None

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except OSError as exc:
        # Calls matter more than their figures: a taken port is reported, and callguard runs on.
        structlog.get_logger("callguard.metrics").error(
            "metrics.unavailable", host=settings.host, port=settings.port, reason=str(exc)
        )
        await runner.cleanup()
        return None
    return runner
