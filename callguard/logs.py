"""Structured JSON logs (structlog) and the emitter that also publishes each event on MQTT."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import structlog

from callguard import metrics
from callguard.config import Config
from callguard.events import MqttPublisher
from callguard.policy import Directory

# SEC-2: the fields of logs and MQTT events that may hold an outside party's number.
NUMBER_FIELDS = frozenset(
    {"caller", "dialed", "number", "ext", "extension", "target", "targets", "to", "pattern"}
)
_NUMBER = re.compile(r"^\+?[0-9*#]{3,}$")


def mask_number(number: str) -> str:
    """13800138000 -> 138****8000; shorter numbers keep only their last two digits
    (62345678 -> ******78), so that no local number can be read back from a dashboard."""
    digits = len(number)
    if digits >= 10:
        return number[:3] + "*" * (digits - 7) + number[-4:]
    return "*" * (digits - 2) + number[-2:]


def mask_fields(fields: dict[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """A copy of `fields` with every outside number masked; numbers `keep` accepts (the
    directory's extensions, emergency numbers) stay as they are."""

    def masked(value: Any) -> Any:
        if isinstance(value, str) and _NUMBER.match(value) and not keep(value):
            return mask_number(value)
        if isinstance(value, list | tuple):
            return [masked(v) for v in value]
        return value

    return {k: masked(v) if k in NUMBER_FIELDS else v for k, v in fields.items()}


def number_keeper(config: Config) -> Callable[[str], bool]:
    """What masking leaves readable: the directory's extensions and the emergency numbers (with
    or without the access code); every other number belongs to an outside party."""
    directory = Directory(config.directory)
    code = config.outbound.access_code
    emergency = set(config.outbound.emergency_numbers)
    emergency |= {code + n for n in emergency} if code else set()
    return lambda number: directory.lookup(number) is not None or number in emergency


def _event_first(_logger: Any, _method: str, event_dict: Any) -> Any:
    # `{"event": "call.ended", ...}`: the name ops grep for leads every line.
    return {"event": event_dict.pop("event", None), **event_dict}


def configure_logging(level: str = "info", file: str = "", keep: Callable[[str], bool] | None = None) -> None:
    """JSON lines on stdout, or in `file` instead: the event's name, its fields, level, timestamp.
    With `keep`, outside numbers (those `keep` refuses) are masked in every line (SEC-2)."""
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
            *([lambda _l, _m, event_dict: mask_fields(event_dict, keep)] if keep else []),
            _event_first,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


class Emitter:
    """One call to `emit()` writes the log line and queues the same event for MQTT; with
    `mqtt_keep`, outside numbers are masked in the MQTT payload (SEC-2)."""

    def __init__(
        self, publisher: MqttPublisher | None, mqtt_keep: Callable[[str], bool] | None = None
    ) -> None:
        self._publisher = publisher
        self._mqtt_keep = mqtt_keep
        self._log = structlog.get_logger("callguard.calls")

    def __call__(self, event: str, /, **fields: Any) -> None:
        self._log.info(event, **fields)
        metrics.observe_event(event, fields)  # the one place calls and rules are counted
        if self._publisher is not None:
            payload = mask_fields(fields, self._mqtt_keep) if self._mqtt_keep else fields
            self._publisher.publish(event, payload)
