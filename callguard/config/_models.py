"""Pydantic models of callguard.toml and directory.toml."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callguard.config.console import ConsoleSettings
from callguard.config.metrics import MetricsSettings
from callguard.config.supervision import SupervisionSettings


class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AriSettings(_Strict):
    url: str = "http://127.0.0.1:8088"
    user: str = "callguard"
    password: str = Field(default="", description="or CALLGUARD_ARI_PASSWORD")
    app: str = "callguard"
    request_timeout_s: float = Field(default=5.0, gt=0)
    ping_interval_s: float = Field(default=10.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)


class AmiSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    user: str = "callguard"
    password: str = Field(default="", description="or CALLGUARD_AMI_PASSWORD")


class DatabaseSettings(_Strict):
    # Relative paths (the SQLite file, the journal) are in [service] state_dir.
    url: str = Field(default="sqlite+aiosqlite:///callguard.db", description="or CALLGUARD_DATABASE_URL")
    journal: str = "callguard-journal.jsonl"
    retry_interval_s: float = Field(default=5.0, gt=0)
    # LOG-2: records kept in memory while neither the database nor the journal can be written;
    # past this the oldest are dropped (store.dropping, alert.records_dropped).
    memory_queue_max: int = Field(default=100_000, ge=1)


class MqttSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = "callguard"
    outbox_size: int = Field(default=10_000, ge=1)
    reconnect_max_s: float = Field(default=10.0, gt=0)
    # The broker should not be anonymous: a user (mosquitto password_file) and TLS.
    username: str = ""
    password: str = Field(default="", description="or CALLGUARD_MQTT_PASSWORD")
    tls: bool = False
    ca_file: str = ""  # empty: the system's CA certificates
    cert_file: str = ""  # client certificate, if the broker asks for one
    key_file: str = ""
    tls_insecure: bool = False  # skip the host name check (a test broker only)
    # SEC-2: dashboards are read widely, so outside numbers are masked there by default.
    mask_numbers: bool = True


class LogSettings(_Strict):
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    file: str = ""
    # SEC-2: mask outside numbers (138****8000) in log lines; extensions stay readable.
    mask_numbers: bool = False


class CallSettings(_Strict):
    # A plain overall timeout until the three-ring rule (ANS-1) replaces it.
    no_answer_timeout_s: int = Field(default=30, ge=1, le=600)
    # Calls still being set up (not yet ringing) beyond which new calls are refused at once with
    # congestion (SIP 503) instead of queueing behind them: an overloaded PBX answers fast.
    max_calls_in_setup: int = Field(default=20, ge=1)


class Role(StrEnum):
    employee = "employee"
    assistant = "assistant"
    manager = "manager"
    director = "director"
    operator = "operator"
    guard = "guard"


class LineKind(StrEnum):
    desk = "desk"
    front_desk = "front_desk"  # receives calls only: no outside calls (OUT-5)
    inbound_only = "inbound_only"  # e.g. a publicity line: no outside calls (OUT-5)
    alarm = "alarm"  # the guard room: dials emergency numbers only (OUT-5)
    duty = "duty"
    operator = "operator"


class ServiceClass(StrEnum):
    """Classes of service, lowest first (OUT-2): a line may call numbers up to its class."""

    internal = "internal"
    local = "local"
    national = "national"
    hk_macau = "hk_macau"
    international = "international"


class NumberClass(StrEnum):
    """What an outside number is, after the trunk access code is stripped."""

    emergency = "emergency"
    local = "local"
    mobile = "mobile"
    service = "service"
    national = "national"
    hk_macau = "hk_macau"
    international = "international"
    premium = "premium"


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class OfficeHours(_Strict):
    """ANS-7: when a department works (local time); `holidays` are whole days off."""

    days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays: 1 = Monday
    start: str = Field(default="08:30", pattern=_HHMM)
    end: str = Field(default="17:30", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    holidays: tuple[str, ...] = ()  # "2026-10-01"
    # Outside the hours, outside calls go to the duty line(s), or hear the closed-office prompt.
    after_hours: str = Field(default="duty", pattern="^(duty|closed)$")


# Directory strings end up in record columns (ids String(64), names String(128)): longer ones
# are refused here rather than clipped in every record.
_ID_MAX, _NAME_MAX = 64, 128


class Department(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=_ID_MAX)
    name: str = Field(min_length=1, max_length=_NAME_MAX)
    rings: int | None = Field(default=None, ge=1, le=20)  # ANS-1, default [answering] rings
    # ANS-3: the colleagues who cover an unanswered line of this department.
    hunt_group: tuple[str, ...] = ()
    hunt_mode: str = Field(default="all", pattern="^(all|order)$")
    office_hours: OfficeHours | None = None  # default [answering.office_hours]
    # LOG-3: the person (id) who heads it: the console's `head` role sees this department's records.
    head: str | None = None


class Person(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$", max_length=_ID_MAX)
    name: str = Field(min_length=1, max_length=_NAME_MAX)
    department: str
    role: Role = Role.employee
    assistants: tuple[str, ...] = ()
    class_of_service: ServiceClass | None = None  # overrides [outbound.class_by_role]
    # XFER-1: outside numbers that reach this manager directly, not through the assistant.
    bypass_numbers: tuple[str, ...] = ()


class Line(_Strict):
    extension: str = Field(pattern=r"^[0-9]{2,8}$")
    kind: LineKind = LineKind.desk
    person: str | None = None
    department: str | None = None
    label: str | None = Field(default=None, max_length=_NAME_MAX)  # the name of a line without a person
    class_of_service: ServiceClass | None = None  # overrides the person's class
    rings: int | None = Field(default=None, ge=1, le=20)  # ANS-1, default the department's
    covered_by: tuple[str, ...] = ()  # ANS-3: named colleagues' extensions, rung after this line
    rollover: bool = True  # False: this line rings on past its limit (ANS-2 then applies)


class DirectoryConfig(_Strict):
    company: str = Field(min_length=1)
    departments: tuple[Department, ...] = ()
    people: tuple[Person, ...] = ()
    lines: tuple[Line, ...] = ()


class NumberRule(_Strict):
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


class NumberingSettings(_Strict):
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


class DurationLimit(_Strict):
    """OUT-4: warn the employee at `limit_s - warn_before_s`, a violation at `limit_s`, and
    with `hard_cap` the call is ended there."""

    limit_s: int = Field(default=180, ge=1)
    warn_before_s: int = Field(default=30, ge=0)
    hard_cap: bool = False


class QuietHours(_Strict):
    """OUT-7: outside calls from these departments between `start` and `end` (local time;
    may wrap midnight) first hear a reminder, or are refused."""

    departments: tuple[str, ...]
    start: str = Field(default="12:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(default="14:00", pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")
    action: str = Field(default="remind", pattern="^(remind|refuse)$")


class Fines(_Strict):
    """元 per attempt (OUT-1, OUT-2). Premium: `premium_base + premium_cost_multiplier x cost`,
    the cost being `premium_estimated_cost` since a refused call has none of its own."""

    national: Decimal = Field(default=Decimal(50), ge=0)
    hk_macau: Decimal = Field(default=Decimal(100), ge=0)
    international: Decimal = Field(default=Decimal(500), ge=0)
    premium_base: Decimal = Field(default=Decimal(50), ge=0)
    premium_cost_multiplier: Decimal = Field(default=Decimal(20), ge=0)
    premium_estimated_cost: Decimal = Field(default=Decimal(5), ge=0)


class TollGuard(_Strict):
    """SEC-3: outside calls (emergency ones never count) beyond these are refused and alerted."""

    per_extension_concurrent: int = Field(default=2, ge=1)
    per_extension_per_hour: int = Field(default=30, ge=1)
    total_concurrent: int = Field(default=30, ge=1)
    total_per_hour: int = Field(default=500, ge=1)


_EXTERNAL = ("local", "mobile", "service", "national", "hk_macau", "international")


class OutboundSettings(_Strict):
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


class PinEntry(_Strict):
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


class PinFile(_Strict):
    """The authorization codes file (OUT-3), written by `callguard pin set`: PINs are only
    ever stored as salted scrypt hashes."""

    pins: tuple[PinEntry, ...] = ()


class InboundSettings(_Strict):
    """SEC-1: outside callers on the blocklist (`callguard block ...`) are refused politely; one
    who calls more than `auto_block_calls` times within `auto_block_window_min` minutes is
    blocked for `auto_block_min` minutes. Calls to duty and alarm lines are never blocked (ANS-5)."""

    auto_block_calls: int = Field(default=5, ge=1)
    auto_block_window_min: float = Field(default=10, gt=0)
    auto_block_min: float = Field(default=60, gt=0)
    blocklist_refresh_s: float = Field(default=5.0, gt=0)
    # Callers without a number (withheld, "anonymous", junk): let them through, or refuse them
    # politely (SEC-1, reason anonymous_caller). They are never counted as one repeat caller.
    anonymous: str = Field(default="allow", pattern="^(allow|block)$")


class AnsweringSettings(_Strict):
    """ANS-1..7 and XFER-1..3 for calls to extensions."""

    rings: int = Field(default=3, ge=1, le=20)
    # China's ring cadence is 1 s on, 4 s off: 5 s per ring (US 6 s, UK 3 s).
    ring_cadence_s: float = Field(default=5.0, gt=0, le=30)
    greeting: str = Field(default="before_ringing", pattern="^(before_ringing|on_answer|off)$")
    # DID → prompt the outside caller hears (ANS-4); a DID not listed hears its department's
    # greeting (greeting_<department>) or the company's (greeting).
    greetings: dict[str, str] = Field(default_factory=dict)
    apology: bool = True  # ANS-2
    message_max_s: int = Field(default=120, ge=5, le=600)  # XFER-3
    office_hours: OfficeHours = OfficeHours()
    # ANS-3: a phone that has not started ringing this long after the INVITE is offline: skipped.
    offline_after_s: float = Field(default=4.0, gt=0, le=60)
    # XFER-2: an employee in a call presses *2, the extension, then # to hand the caller on.
    transfer_code: str = Field(default="*2", pattern=r"^[*#][0-9]$")


class TariffBand(_Strict):
    """A time-of-day band of a tariff (local time, may wrap midnight): a call is priced by the
    band its answer time falls in; prices not given here are the tariff's own."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,16}$")
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    connection_fee: Decimal | None = Field(default=None, ge=0)
    initial_price: Decimal | None = Field(default=None, ge=0)
    increment_price: Decimal | None = Field(default=None, ge=0)


class Tariff(_Strict):
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


class TariffFile(_Strict):
    """The tariff file named by `[outbound] tariffs` (example: config/tariffs.toml)."""

    tariffs: tuple[Tariff, ...] = ()


class BudgetEntry(_Strict):
    """A monthly budget (LOG-4) of a department or a person (`name` is its id), in 元. At 100 %:
    `alert` only, `downgrade` outside calls to `downgrade_to`, or `block` them (not OUT-6)."""

    name: str = Field(pattern=r"^[a-z0-9_.-]+$", max_length=_ID_MAX)
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    action: str = Field(default="alert", pattern="^(alert|downgrade|block)$")
    downgrade_to: ServiceClass = ServiceClass.local


class BudgetSettings(_Strict):
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


class LadderStep(StrEnum):
    """LOG-5's escalation steps, mildest first."""

    verbal_warning = "verbal_warning"  # 口头警告
    written_warning = "written_warning"  # 书面警告
    fine = "fine"  # 罚款
    referral = "referral"  # 移交处理


_RULE_ID = r"^[A-Z]{2,5}-[0-9]{1,2}$"


class ViolationSettings(_Strict):
    """LOG-5: a person's n-th violation still counting within `window_days` gets step n of its
    ladder (the last step repeats); serious ones climb `serious_ladder`. Severities in
    `unladdered_severities` (security alerts) are recorded without a step. `fines` (元) apply at
    those steps to rules whose own fine is 0. Appeals within `appeal_working_days`."""

    window_days: int = Field(default=90, ge=1, le=3650)
    ladder: tuple[LadderStep, ...] = Field(default=tuple(LadderStep), min_length=1)
    serious_ladder: tuple[LadderStep, ...] = Field(
        default=(LadderStep.fine, LadderStep.referral), min_length=1
    )
    serious_rules: tuple[str, ...] = ("OUT-1",)
    serious_severities: tuple[str, ...] = ("serious",)
    unladdered_severities: tuple[str, ...] = ("alert",)
    fines: dict[LadderStep, Decimal] = Field(default_factory=lambda: {LadderStep.fine: Decimal(50)})
    appeal_working_days: int = Field(default=5, ge=1, le=60)

    @field_validator("serious_rules", mode="after")
    @classmethod
    def _rule_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for rule in value:
            if not re.fullmatch(_RULE_ID, rule):
                raise ValueError(f"{rule!r} is not a rule ID such as OUT-1 (see POLICY.md)")
        return value

    @field_validator("fines", mode="after")
    @classmethod
    def _money(cls, value: dict[LadderStep, Decimal]) -> dict[LadderStep, Decimal]:
        if any(not 0 <= amount < 10**8 for amount in value.values()):
            raise ValueError("each fine is 0 or more 元, below 100000000")
        return value


class CdrSettings(_Strict):
    """LOG-1: calls the dialplan handled alone while callguard was down come from Asterisk's CDR
    (cdr_custom, dialplan/cdr_custom.conf), imported at start and at each ARI/AMI reconnect."""

    enabled: bool = True
    # The CSV as callguard reads it (relative: to this file); a missing file is a warning.
    file: str = "/var/log/asterisk/cdr-custom/callguard.csv"
    # Also every so often: a row Asterisk writes just after callguard's start-up import (a call
    # that ended then) would otherwise wait for the next reconnect.
    import_every_s: float = Field(default=300.0, gt=0)


class ServiceSection(_Strict):
    node: str = Field(default="callguard", pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
    # Where the database, journal and log files live when their paths are relative (LOG-2);
    # or CALLGUARD_STATE_DIR. Not next to the config, which may be read-only.
    state_dir: str = Field(default="/var/lib/callguard", min_length=1)
    directory: str = "directory.toml"
    # Prompts play from Asterisk's sounds/<language>/callguard/ (see sounds/README.md).
    language: str = Field(default="zh_CN", pattern=r"^[A-Za-z_]{2,10}$")
    # The generated dialplan include (`callguard dialplan render`) that `check-config` compares
    # with this configuration; empty = not checked.
    dialplan_include: str = ""


class RecordsSettings(_Strict):
    """LOG-2: `callguard db prune` deletes whole local months older than this many months, after
    writing each month's bill to <state_dir>/bills/YYYY-MM.csv; 0 keeps records for ever."""

    retention_months: int = Field(default=36, ge=0, le=1200)


class Config(_Strict):
    """Everything `callguard run` needs; `source` is the file it came from."""

    service: ServiceSection = ServiceSection()
    ari: AriSettings = AriSettings()
    ami: AmiSettings = AmiSettings()
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    log: LogSettings = LogSettings()
    calls: CallSettings = CallSettings()
    outbound: OutboundSettings = OutboundSettings()
    inbound: InboundSettings = InboundSettings()
    answering: AnsweringSettings = AnsweringSettings()
    directory: DirectoryConfig
    tariffs: tuple[Tariff, ...] = ()  # LOG-4: [[tariffs]] and the `[outbound] tariffs` file
    budgets: BudgetSettings = BudgetSettings()  # LOG-4
    violations: ViolationSettings = ViolationSettings()  # LOG-5: the ladder and appeals
    cdr: CdrSettings = CdrSettings()  # LOG-1: importing the dialplan's calls from the CDR
    records: RecordsSettings = RecordsSettings()  # LOG-2: retention (`callguard db prune`)
    console: ConsoleSettings = ConsoleSettings()  # the console (`callguard web`)
    metrics: MetricsSettings = MetricsSettings()  # Prometheus /metrics of the controller
    supervision: SupervisionSettings = SupervisionSettings()  # LOG-6: recorded sample
    pin_file: PinFile | None = None
    source: Path
