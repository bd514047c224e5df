"""[outbound]: outside calls (OUT-1..7, SEC-3) and the PIN file (OUT-3)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from callguard.config.base import Strict
from callguard.config.classes import NumberClass, Role, ServiceClass
from callguard.config.numbering import CHINA_NUMBER_RULES, NumberingSettings, NumberRule


class DurationLimit(Strict):
    """OUT-4: warn the employee at `limit_s - warn_before_s`, a violation at `limit_s`, and
    with `hard_cap` the call is ended there."""

    limit_s: int = Field(default=180, ge=1)
    warn_before_s: int = Field(default=30, ge=0)
    hard_cap: bool = False


class QuietHours(Strict):
    """OUT-7: outside calls from these departments between `start` and `end` (local time;
    may wrap midnight) first hear a reminder, or are refused."""

    departments: tuple[str, ...]
    start: str = Field(default="12:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(default="14:00", pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")
    action: str = Field(default="remind", pattern="^(remind|refuse)$")


class Fines(Strict):
    """元 per attempt (OUT-1, OUT-2). Premium: `premium_base + premium_cost_multiplier x cost`,
    the cost being `premium_estimated_cost` since a refused call has none of its own."""

    national: Decimal = Field(default=Decimal(50), ge=0)
    hk_macau: Decimal = Field(default=Decimal(100), ge=0)
    international: Decimal = Field(default=Decimal(500), ge=0)
    premium_base: Decimal = Field(default=Decimal(50), ge=0)
    premium_cost_multiplier: Decimal = Field(default=Decimal(20), ge=0)
    premium_estimated_cost: Decimal = Field(default=Decimal(5), ge=0)


class TollGuard(Strict):
    """SEC-3: outside calls (emergency ones never count) beyond these are refused and alerted."""

    per_extension_concurrent: int = Field(default=2, ge=1)
    per_extension_per_hour: int = Field(default=30, ge=1)
    total_concurrent: int = Field(default=30, ge=1)
    total_per_hour: int = Field(default=500, ge=1)


_EXTERNAL = ("local", "mobile", "service", "national", "hk_macau", "international")


class OutboundSettings(Strict):
    access_code: str = Field(default="0", pattern=r"^[0-9*#]{0,3}$")
    trunk: str = Field(default="pstn", pattern=r"^[A-Za-z0-9_.-]+$")
    emergency_numbers: tuple[str, ...] = ("110", "119", "120", "122", "112")
    number_rules: tuple[NumberRule, ...] = CHINA_NUMBER_RULES
    numbering: NumberingSettings = NumberingSettings()  # area codes etc. (OUT-1; SEC-1's normal form)
    class_by_role: dict[Role, ServiceClass] = Field(
        default_factory=lambda: {
            Role.employee: ServiceClass.local,
            Role.assistant: ServiceClass.local,
            Role.operator: ServiceClass.local,
            Role.guard: ServiceClass.local,
            Role.manager: ServiceClass.national,
            Role.director: ServiceClass.international,
        }
    )
    # Above-class calls to these classes may be authorised with a PIN (OUT-3); others are refused.
    pin_classes: tuple[ServiceClass, ...] = (
        ServiceClass.national,
        ServiceClass.hk_macau,
        ServiceClass.international,
    )
    # Calls to these classes are registered with a matter code, whoever makes them (OUT-3).
    matter_classes: tuple[ServiceClass, ...] = (
        ServiceClass.national,
        ServiceClass.hk_macau,
        ServiceClass.international,
    )
    pins: str = ""  # file of hashed PINs (`callguard pin set`); empty = no PINs
    pin_attempts: int = Field(default=3, ge=1, le=10)
    pin_min_digits: int = Field(default=6, ge=4, le=12)  # `pin set` refuses shorter codes
    # OUT-3 against guessing: this many wrong codes within the window, on one line or on the
    # lines of the person who owns it, lock PIN entry there for `pin_lockout_min` minutes.
    pin_lockout_after: int = Field(default=5, ge=1, le=100)
    pin_lockout_window_min: float = Field(default=15, gt=0)
    pin_lockout_min: float = Field(default=30, gt=0)
    digit_timeout_s: float = Field(default=8.0, gt=0)
    ring_timeout_s: int = Field(default=60, ge=1, le=600)
    # OUT-4 per number class; a class not listed has no limit (emergency never has one).
    durations: dict[NumberClass, DurationLimit] = Field(
        default_factory=lambda: {NumberClass(c): DurationLimit() for c in _EXTERNAL}
    )
    quiet_hours: tuple[QuietHours, ...] = ()
    fines: Fines = Fines()
    toll_guard: TollGuard = TollGuard()
    # LOG-4: a tariff file (as config/tariffs.toml), relative to this config; adds to [[tariffs]].
    tariffs: str = ""

    @field_validator("durations", mode="after")
    @classmethod
    def _every_outside_class_has_a_limit(
        cls, value: dict[NumberClass, DurationLimit]
    ) -> dict[NumberClass, DurationLimit]:
        # Configuring one class must not silently lift the limit of the others.
        return {**{NumberClass(c): DurationLimit() for c in _EXTERNAL}, **value}


# `scrypt$N$r$p$<salt hex>$<hash hex>` (callguard.policy.pins): each PIN has its own salt.
PIN_HASH_PATTERN = r"^scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[0-9a-f]{32,128}\$[0-9a-f]{64}$"


class PinEntry(Strict):
    person: str
    hash: str = Field(pattern=PIN_HASH_PATTERN)

    @field_validator("hash", mode="after")
    @classmethod
    def _sane_scrypt_cost(cls, value: str) -> str:
        # Weaker than the shipped cost is refused; far above it would exhaust memory per call.
        n, r, p = (int(x) for x in value.split("$")[1:4])
        if n < 2**14 or n > 2**20 or n & (n - 1):
            raise ValueError("scrypt N must be a power of two from 16384 to 1048576")
        if not 1 <= r <= 32 or not 1 <= p <= 16:
            raise ValueError("scrypt r must be 1..32 and p 1..16")
        return value


class PinFile(Strict):
    """The authorization codes file (OUT-3), written by `callguard pin set`: PINs are only
    ever stored as salted scrypt hashes."""

    pins: tuple[PinEntry, ...] = ()
