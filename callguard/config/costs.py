"""LOG-4: the tariff table and the monthly budgets. Money in 元 as Decimal."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from pydantic import Field, field_validator

from callguard.config.base import HHMM, ID_MAX, Strict
from callguard.config.classes import NumberClass, ServiceClass


class TariffBand(Strict):
    """A time-of-day band of a tariff (local time, may wrap midnight): a call is priced by the
    band its answer time falls in; prices not given here are the tariff's own."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,16}$")
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    connection_fee: Decimal | None = Field(default=None, ge=0)
    initial_price: Decimal | None = Field(default=None, ge=0)
    increment_price: Decimal | None = Field(default=None, ge=0)


class Tariff(Strict):
    """One priced entry of the tariff table (LOG-4): the numbers of `classes` and/or starting
    with one of `prefixes` (longest prefix wins, then the latest `effective_from` not after the
    call): `connection_fee` + `initial_price` for the first `initial_s` seconds, then
    `increment_price` per started `increment_s`. Money in 元 as Decimal."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    classes: tuple[NumberClass, ...] = ()
    prefixes: tuple[str, ...] = ()
    effective_from: date = date(2000, 1, 1)
    connection_fee: Decimal = Field(default=Decimal(0), ge=0)
    initial_s: int = Field(default=60, ge=0, le=3600)
    initial_price: Decimal = Field(default=Decimal(0), ge=0)
    increment_s: int = Field(default=60, ge=1, le=3600)
    increment_price: Decimal = Field(default=Decimal(0), ge=0)
    bands: tuple[TariffBand, ...] = ()

    @field_validator("prefixes", mode="after")
    @classmethod
    def _digits(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not re.fullmatch(r"[0-9]{1,16}", prefix):
                raise ValueError(f"{prefix!r} is not a number prefix (digits only)")
        return value


class TariffFile(Strict):
    """The tariff file named by `[outbound] tariffs` (example: config/tariffs.toml)."""

    tariffs: tuple[Tariff, ...] = ()


class BudgetEntry(Strict):
    """A monthly budget (LOG-4) of a department or a person (`name` is its id), in 元. At 100 %:
    `alert` only, `downgrade` outside calls to `downgrade_to`, or `block` them (not OUT-6)."""

    name: str = Field(pattern=r"^[a-z0-9_.-]+$", max_length=ID_MAX)
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    action: str = Field(default="alert", pattern="^(alert|downgrade|block)$")
    downgrade_to: ServiceClass = ServiceClass.local


class BudgetSettings(Strict):
    """LOG-4 budgets: alerts at each of `thresholds_pct` once per budget and month; budgets set
    with `callguard budget set` (the database) override these."""

    thresholds_pct: tuple[int, ...] = Field(default=(80, 100), min_length=1)
    refresh_s: float = Field(default=2.0, gt=0)
    department: tuple[BudgetEntry, ...] = ()
    person: tuple[BudgetEntry, ...] = ()

    @field_validator("thresholds_pct", mode="after")
    @classmethod
    def _percentages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= pct <= 1000 for pct in value):
            raise ValueError("each threshold is a percentage from 1 to 1000")
        return tuple(sorted(set(value)))
