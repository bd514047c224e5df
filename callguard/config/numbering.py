"""The numbering plan: which outside number is which class (OUT-1, OUT-2; SEC-1's normal form)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from callguard.config.base import Strict
from callguard.config.classes import NumberClass


class NumberRule(Strict):
    """Numbers starting with `prefix` and `min_length`..`max_length` digits long are `class_`."""

    prefix: str = Field(pattern=r"^[0-9]{1,12}$")
    class_: NumberClass = Field(alias="class")
    min_length: int = Field(default=1, ge=1, le=32)
    max_length: int = Field(default=32, ge=1, le=32)


def _rules(cls: str, prefixes: str, min_length: int, max_length: int) -> list[dict[str, object]]:
    return [
        {"prefix": p, "class": cls, "min_length": min_length, "max_length": max_length}
        for p in prefixes.split()
    ]


# China's numbering plan, as dialled after the outside-line code. Longest prefix wins; a number
# no rule covers, or of the wrong length for its rule, is refused as invalid. Emergency numbers
# are `emergency_numbers`, matched exactly before this table.
CHINA_NUMBER_RULES: tuple[NumberRule, ...] = tuple(
    NumberRule.model_validate(r)
    for r in [
        *_rules("local", "2 3 4 5 6 7 8", 7, 8),
        *_rules("mobile", "13 14 15 16 17 18 19", 11, 11),
        *_rules("service", "95 96", 5, 8),
        *_rules("service", "100 123", 5, 5),
        *_rules("national", "01 02 03 04 05 06 07 08 09", 10, 12),
        *_rules("international", "00", 7, 18),
        *_rules("hk_macau", "00852 00853", 13, 13),
        # Premium-rate information services (声讯台/信息台): refused by OUT-1 at any length.
        *_rules("premium", "168 160 1259", 3, 20),
    ]
)


# China's area codes as shapes (x = any digit): Beijing 10, the big cities 20-29, everywhere else
# three digits 3xx-9xx. Dialled after the national prefix 0 (0 + 10 + subscriber).
CHINA_AREA_CODES: tuple[str, ...] = ("10", "2x", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx")


class NumberingSettings(Strict):
    """The home country's numbering plan beyond the prefix table: what OUT-1 looks through to
    find a premium number behind an area code or an international prefix, and the normal form
    SEC-1 matches callers in."""

    country_code: str = Field(default="86", pattern=r"^[1-9][0-9]{0,2}$")
    national_prefix: str = Field(default="0", pattern=r"^[0-9]{1,2}$")
    international_prefix: str = Field(default="00", pattern=r"^[0-9]{1,4}$")
    area_codes: tuple[str, ...] = Field(default=CHINA_AREA_CODES, min_length=1)
    # An area code + subscriber number (or a mobile) after the country code is this long: only
    # then is a bare country code (86...) without + or 00 taken for one.
    national_number_digits: tuple[int, int] = (10, 11)

    @field_validator("area_codes", mode="after")
    @classmethod
    def _area_code_shapes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(r"[0-9][0-9x]{0,5}", code):
                raise ValueError(f"{code!r} is not an area code shape: digits, x for any digit")
        return value

    @field_validator("national_number_digits", mode="after")
    @classmethod
    def _digits_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1] <= 20:
            raise ValueError("give [min, max] with 1 <= min <= max <= 20")
        return value
