"""Structured JSON logs (structlog) and the emitter that also publishes each event on MQTT."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

from callguard.events import MqttPublisher


def _event_first(_logger: Any, _method: str, event_dict: Any) -> Any:
    # `{"event": "call.ended", ...}`: the name ops grep for leads every line.
    return {"event": event_dict.pop("event", None), **event_dict}


def configure_logging(level: str = "info", file: str = "") -> None:
    """JSON lines on stdout, or in `file` instead: the event's name, its fields, level, timestamp."""
    stream: TextIO = sys.stdout
    if file:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        # Line-buffered: every event is on disk when it is logged.
        stream = open(file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _event_first,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


class Emitter:
    """One call to `emit()` writes the log line and queues the same event for MQTT."""

    def __init__(self, publisher: MqttPublisher | None) -> None:
        self._publisher = publisher
        self._log = structlog.get_logger("callguard.calls")

    def __call__(self, event: str, /, **fields: Any) -> None:
        self._log.info(event, **fields)
        if self._publisher is not None:
            self._publisher.publish(event, fields)
