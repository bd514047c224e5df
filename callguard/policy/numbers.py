"""What kind of number was dialled (OUT-1, OUT-2): a prefix table from config, longest match wins."""

from __future__ import annotations

from dataclasses import dataclass

from callguard.config import NumberClass, NumberRule, ServiceClass

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


class NumberPlan:
    def __init__(self, rules: tuple[NumberRule, ...], access_code: str, emergency: tuple[str, ...]) -> None:
        # Longest prefix first, so that "00852" is Hong Kong before "00" is international.
        self._rules = sorted(rules, key=lambda r: len(r.prefix), reverse=True)
        self.access_code = access_code
        self.emergency = frozenset(emergency)

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
        for rule in self._rules:
            if number.startswith(rule.prefix):
                ok = rule.min_length <= len(number) <= rule.max_length
                return Classified(number, rule.class_.value if ok else INVALID)
        return Classified(number, INVALID)
