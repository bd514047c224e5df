"""JSON as callguard writes it for people and dashboards: log lines and MQTT events."""

from __future__ import annotations

import json
from typing import Any

import orjson

# What json.dumps(default=str) does with these is str(); orjson would write them its own way.
_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode(value: dict[str, Any]) -> bytes:
    """UTF-8 JSON (non-ASCII kept, odd values as str()), with orjson: the same JSON values as
    json.dumps(default=str, ensure_ascii=False), for a fraction of its cost (issue 12)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON)
    except TypeError:  # what orjson refuses and json takes: non-str keys, ints past 64 bits
        return json.dumps(value, default=str, ensure_ascii=False).encode()
