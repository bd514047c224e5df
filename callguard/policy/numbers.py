"""What kind of number was dialled (OUT-1, OUT-2): a prefix table from config, longest match wins;
and the one normal form SEC-1 compares outside callers' numbers in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from callguard.config import NumberClass, NumberRule, ServiceClass
from callguard.config._models import NumberingSettings

INVALID = "invalid"

# The class of service a line needs to reach each class of number (OUT-2).
REQUIRED_CLASS: dict[NumberClass, ServiceClass] = {
    NumberClass.local: ServiceClass.local,
    NumberClass.mobile: ServiceClass.local,
    NumberClass.service: ServiceClass.local,
    NumberClass.national: ServiceClass.national,
    NumberClass.hk_macau: ServiceClass.hk_macau,
    NumberClass.international: ServiceClass.international,
}

_CLASS_ORDER = list(ServiceClass)


def covers(have: ServiceClass, need: ServiceClass) -> bool:
    """internal < local < national < hk_macau < international."""
    return _CLASS_ORDER.index(have) >= _CLASS_ORDER.index(need)


@dataclass(frozen=True, slots=True)
class Classified:
    number: str  # what goes to the trunk: the dialled string without the access code
    number_class: str  # a NumberClass value, or "invalid"


# Written between digits by people and some trunks; never part of the number.
_SEPARATORS = re.compile(r"[\s\-.()\u2010-\u2015]")


class Numbering:
    """The home numbering plan (config `[outbound.numbering]`): area codes, national and
    international prefixes, country code.

    SEC-1's normal form is the number as dialled at home, prefixes included: a mobile or service
    number as is (13800138000, 95588), a landline with the national prefix and its area code
    (01012345678 for Beijing 010-1234 5678, 075512345678), a foreign number with the
    international prefix (0085221234567). A number the trunk sends without an area code (a
    local caller) stays as sent. Landlines keep their 0 so that a prefix entry such as 0755
    never matches a local number that happens to start 755."""

    def __init__(self, settings: NumberingSettings | None = None) -> None:
        s = settings or NumberingSettings()
        self.country_code = s.country_code
        self.national_prefix = s.national_prefix
        self.international_prefix = s.international_prefix
        self.national_digits = s.national_number_digits
        self._area_codes = tuple(re.compile(code.replace("x", "[0-9]")) for code in s.area_codes)

    def area_codes(self, national: str) -> Iterator[str]:
        """Every area code (by the configured shapes) that `national` (without its 0) starts with."""
        for shape in self._area_codes:
            match = shape.match(national)
            if match is not None:
                yield match.group()

    def _is_landline(self, national: str) -> bool:
        return next(self.area_codes(national), None) is not None

    def _domestic(self, national: str) -> str:
        """A national significant number (after the country code) in the home form."""
        # "+86 (0)10 ...": the national prefix written after the country code is not dialled.
        national = national.removeprefix(self.national_prefix)
        return self.national_prefix + national if self._is_landline(national) else national

    def canonical(self, raw: str) -> str | None:
        """The normal form of a caller's number, or None for a caller without one (empty,
        withheld, "anonymous", "unknown", anything that is not a phone number)."""
        digits = _SEPARATORS.sub("", raw)
        if digits.startswith("+"):
            digits = self.international_prefix + digits[1:]
        if digits in ("", self.international_prefix) or not digits.isascii() or not digits.isdigit():
            return None
        home = self.international_prefix + self.country_code
        if digits.startswith(home):
            rest = digits[len(home) :]
            return self._domestic(rest) or None
        low, high = self.national_digits
        bare = digits[len(self.country_code) :]
        # 86 without + or 00 only where no domestic number is that long (e.g. 86 138 0013 8000).
        national = low <= len(bare) <= high and not bare.startswith(self.national_prefix)
        if digits.startswith(self.country_code) and national:
            return self._domestic(bare)
        return digits

    def canonical_prefix(self, raw: str) -> str | None:
        """A blocklist prefix in the normal form; None when it cannot be placed (not digits, or
        "+86 7": part of an area code could be a local number as well)."""
        digits = _SEPARATORS.sub("", raw)
        if digits.startswith("+"):
            digits = self.international_prefix + digits[1:]
        if not digits or not digits.isascii() or not digits.isdigit():
            return None
        home = self.international_prefix + self.country_code
        if not digits.startswith(home):
            return digits
        rest = digits[len(home) :].removeprefix(self.national_prefix)
        if self._is_landline(rest):
            return self.national_prefix + rest
        if rest and not any(shape.match(rest.ljust(6, "0")) for shape in self._area_codes):
            return rest  # a mobile or service prefix (e.g. +86 138)
        return None


class NumberPlan:
    def __init__(
        self,
        rules: tuple[NumberRule, ...],
        access_code: str,
        emergency: tuple[str, ...],
        numbering: Numbering | None = None,
    ) -> None:
        # Longest prefix first, so that "00852" is Hong Kong before "00" is international.
        self._rules = sorted(rules, key=lambda r: len(r.prefix), reverse=True)
        self.access_code = access_code
        self.emergency = frozenset(emergency)
        self.numbering = numbering or Numbering()

    def is_emergency(self, dialed: str) -> bool:
        """Emergency numbers work with or without the outside-line code (OUT-6)."""
        return dialed in self.emergency or (
            bool(self.access_code)
            and dialed.startswith(self.access_code)
            and dialed[len(self.access_code) :] in self.emergency
        )

    def wants_outside_line(self, dialed: str) -> bool:
        return not self.access_code or dialed.startswith(self.access_code)

    def classify(self, dialed: str) -> Classified:
        """Strip the access code, then match the prefix table. Anything that is not plain digits
        or that no rule covers is invalid: an unknown shape is refused, never guessed at."""
        if self.is_emergency(dialed):
            number = dialed.removeprefix(self.access_code) if dialed not in self.emergency else dialed
            return Classified(number, NumberClass.emergency.value)
        number = dialed[len(self.access_code) :] if self.access_code else dialed
        if not number.isascii() or not number.isdigit():
            return Classified(number, INVALID)
        # OUT-1: a premium service is premium however it is dialled (behind 0 + area code, or
        # 0086 + area code); anything else is classed as dialled (0086... stays international).
        if any(self._by_table(n) == NumberClass.premium.value for n in self._designated(number)):
            return Classified(number, NumberClass.premium.value)
        return Classified(number, self._by_table(number))

    def _by_table(self, number: str) -> str:
        for rule in self._rules:
            if number.startswith(rule.prefix):
                ok = rule.min_length <= len(number) <= rule.max_length
                return rule.class_.value if ok else INVALID
        return INVALID

    def _designated(self, number: str) -> Iterator[str]:
        """The domestic numbers `number` may reach once the carrier strips its prefixes: itself;
        after the national prefix, with and without an area code; after the international prefix
        and the home country code, with and without an area code."""
        yield number
        plan = self.numbering
        home = plan.international_prefix + plan.country_code
        if number.startswith(home):
            national = number[len(home) :]
            national = national.removeprefix(plan.national_prefix)  # "0086 0 10 ..." is seen too
        elif plan.national_prefix and number.startswith(plan.national_prefix):
            if number.startswith(plan.international_prefix):
                return  # another country's number
            national = number[len(plan.national_prefix) :]
        else:
            return
        yield national
        for code in plan.area_codes(national):
            yield national[len(code) :]
