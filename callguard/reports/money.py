"""Money in reports: Decimal yuan, never float (LOG-4)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal("0")
CENT = Decimal("0.01")


def money(value: Any) -> Decimal | None:
    """A stored amount as Decimal (drivers may hand back Decimal, int, str; a float only from an
    old row, taken by its shortest repr so 0.44 stays 0.44)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def yuan(value: Decimal | None) -> str:
    """2 decimals and 元, as bills print it; "-" for no amount."""
    if value is None:
        return "-"
    return f"{value.quantize(CENT, ROUND_HALF_UP)} 元"


def cents(value: Decimal | None) -> str:
    """2 decimals without the unit (CSV cells); "" for no amount."""
    return "" if value is None else str(value.quantize(CENT, ROUND_HALF_UP))
