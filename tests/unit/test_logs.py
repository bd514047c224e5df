"""Log lines: one JSON object each, the event's name first, non-ASCII kept, odd values as str()
(orjson, with the json module for what orjson refuses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import structlog

from callguard.logs import configure_logging


def test_lines_are_json_with_the_event_first_and_odd_values_as_text(tmp_path: Path) -> None:
    log_file = tmp_path / "callguard.log"
    configure_logging("info", str(log_file))
    try:
        log = structlog.get_logger("t")
        log.info(
            "call.ended", caller="李雷 <1001>", fine=Decimal("1.50"), at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        log.info("odd.keys", by_ext={1001: "a"}, big=2**70)
        log.debug("not.kept")
    finally:
        configure_logging("info")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[0].startswith('{"event":"call.ended"') and "李雷" in lines[0]
    first, second = (json.loads(line) for line in lines)
    assert (first["caller"], first["fine"], first["at"]) == (
        "李雷 <1001>",
        "1.50",
        "2026-01-01 00:00:00+00:00",
    )
    assert (second["by_ext"], second["big"]) == ({"1001": "a"}, 2**70)
    assert first["level"] == "info" and first["timestamp"].endswith("Z")
