"""The one choke point every call event goes through: the log line, the Prometheus counters
(`metrics.observe_event`) and the MQTT publication, with outside numbers masked there (SEC-2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from callguard import metrics
from callguard.events.mqtt import MqttPublisher
from callguard.policy.masking import mask_fields


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
