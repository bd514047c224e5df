"""Logging configuration: structured JSON lines (structlog), outside numbers masked on request
(SEC-2). Events are emitted through `events.notifier.Emitter`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import structlog

from callguard.jsontext import encode
from callguard.policy.masking import mask_fields


def _dumps(event_dict: Any, **_kw: Any) -> str:
    return encode(event_dict).decode()  # orjson: a few µs a line (issue 12)


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
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
