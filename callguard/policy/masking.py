"""SEC-2: which outside numbers are masked where (logs, MQTT, the console), and how. Pure:
the directory and the configuration come in, nothing is read here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from callguard.config import Config
from callguard.policy.directory import Directory

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


# Free text that may quote a number ("dialled premium-rate number 16812345678").
TEXT_FIELDS = frozenset({"reason"})
# In free text, a number is a run of five or more digits (an optional + first): shorter runs
# are counts, seconds, years or extensions, and every outside number is longer.
_DIGIT_RUN = re.compile(r"\+?\d{5,}")


def mask_text(text: str, keep: Callable[[str], bool]) -> str:
    """Free text with every number in it masked, except those `keep` accepts."""
    return _DIGIT_RUN.sub(lambda m: m.group() if keep(m.group()) else mask_number(m.group()), text)


def mask_fields(fields: dict[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """A copy of `fields` with every outside number masked; numbers `keep` accepts (the
    directory's extensions, emergency numbers) stay as they are."""
    return {k: _masked_field(k, v, keep) for k, v in fields.items()}


def _masked_field(key: str, value: Any, keep: Callable[[str], bool]) -> Any:
    if key in NUMBER_FIELDS:
        return _masked(value, keep)
    if key in TEXT_FIELDS and isinstance(value, str):
        return mask_text(value, keep)
    return value


# Module functions, not closures: a closure that calls itself is a reference cycle, and one
# per event was garbage only the cycle collector could free (issue 12).
def _masked(value: Any, keep: Callable[[str], bool]) -> Any:
    if isinstance(value, str) and _NUMBER.match(value) and not keep(value):
        return mask_number(value)
    if isinstance(value, list | tuple):
        return [_masked(v, keep) for v in value]
    return value


def number_keeper(config: Config) -> Callable[[str], bool]:
    """What masking leaves readable: the directory's extensions and the emergency numbers (with
    or without the access code); every other number belongs to an outside party."""
    directory = Directory(config.directory)
    code = config.outbound.access_code
    emergency = set(config.outbound.emergency_numbers)
    emergency |= {code + n for n in emergency} if code else set()
    return lambda number: directory.lookup(number) is not None or number in emergency
