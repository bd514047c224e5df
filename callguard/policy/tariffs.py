"""Pricing outside calls from the tariff table (LOG-4). Pure: the call's facts in, (cost, tariff
id) out; money is Decimal, rounded ROUND_HALF_UP to 0.01 元 per call."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from callguard.config._models import Tariff, TariffBand

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Rated:
    cost: Decimal
    tariff: str  # the entry's id, with "/<band>" when a time-of-day band priced it


def billable_seconds(talk_s: float) -> int:
    """Carriers bill every started second: 0.2 s of talk is 1 s, 4.0 s is 4 s."""
    return max(0, math.ceil(round(talk_s, 6)))


def price(
    seconds: int,
    connection_fee: Decimal,
    initial_s: int,
    initial_price: Decimal,
    increment_s: int,
    increment_price: Decimal,
) -> Decimal:
    """The fee, the initial block as soon as one second is billed, then each started increment."""
    if seconds <= 0:
        return connection_fee.quantize(CENT, ROUND_HALF_UP)
    increments = math.ceil(max(0, seconds - initial_s) / increment_s)
    total = connection_fee + initial_price + increments * increment_price
    return total.quantize(CENT, ROUND_HALF_UP)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_band(at: time, band: TariffBand) -> bool:
    minute = at.hour * 60 + at.minute
    start, end = _minutes(band.start), _minutes(band.end)
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end  # wraps midnight


class TariffTable:
    """The configured tariffs; `rate` picks the entry for one call."""

    def __init__(self, tariffs: tuple[Tariff, ...] = ()) -> None:
        self.tariffs = tariffs

    def __bool__(self) -> bool:
        return bool(self.tariffs)

    def entry(self, number: str, number_class: str, at: datetime) -> Tariff | None:
        """The entry in force on `at`'s (local) date for this number: among entries whose classes
        (if any) include the class and whose prefixes (if any) start the number, the longest
        matching prefix wins, then the latest effective date."""
        best: Tariff | None = None
        best_key = (-1, date.min)
        for tariff in self.tariffs:
            if tariff.effective_from > at.date():
                continue
            if tariff.classes and number_class not in tariff.classes:
                continue
            matched = [len(p) for p in tariff.prefixes if number.startswith(p)]
            if tariff.prefixes and not matched:
                continue
            key = (max(matched, default=0), tariff.effective_from)
            if key > best_key:  # on a tie the first entry stays
                best, best_key = tariff, key
        return best

    def rate(self, number: str, number_class: str, at: datetime, talk_s: float) -> Rated | None:
        """The cost of a call answered at `at` (local time: its date picks the tariff in force,
        its time of day the band) that talked `talk_s` seconds; None when no entry covers it."""
        tariff = self.entry(number, number_class, at)
        if tariff is None:
            return None
        band = next((b for b in tariff.bands if in_band(at.timetz(), b)), None)

        def pick(name: str) -> Decimal:
            value: Decimal | None = getattr(band, name) if band is not None else None
            return value if value is not None else Decimal(getattr(tariff, name))

        cost = price(
            billable_seconds(talk_s),
            pick("connection_fee"),
            tariff.initial_s,
            pick("initial_price"),
            tariff.increment_s,
            pick("increment_price"),
        )
        return Rated(cost, f"{tariff.id}/{band.name}" if band is not None else tariff.id)


def rate_call(
    table: TariffTable,
    number: str,
    number_class: str,
    answered_at: datetime | None,
    ended_at: datetime | None,
) -> tuple[Decimal | None, str | None]:
    """(cost, tariff id) of a finished outside call: 0 and no tariff when it was not answered
    (carriers charge answered calls only); (None, None) when no tariff entry covers it."""
    if answered_at is None or ended_at is None:
        return ZERO, None
    talk_s = max(0.0, (ended_at - answered_at).total_seconds())
    rated = table.rate(number, number_class, answered_at.astimezone(), talk_s)
    return (rated.cost, rated.tariff) if rated is not None else (None, None)
