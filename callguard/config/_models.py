"""Pydantic models of callguard.toml and directory.toml: the whole `Config`, built from one
module per settings group (names re-exported here, as callers import them from this module)."""

from __future__ import annotations

from pathlib import Path

from callguard.config.answering import AnsweringSettings, InboundSettings
from callguard.config.base import Strict
from callguard.config.classes import LineKind, NumberClass, Role, ServiceClass
from callguard.config.console import ConsoleSettings
from callguard.config.costs import BudgetEntry, BudgetSettings, Tariff, TariffBand, TariffFile
from callguard.config.directory import Department, DirectoryConfig, Line, OfficeHours, Person
from callguard.config.metrics import MetricsSettings
from callguard.config.numbering import CHINA_AREA_CODES, CHINA_NUMBER_RULES, NumberingSettings, NumberRule
from callguard.config.outbound import (
    PIN_HASH_PATTERN,
    DurationLimit,
    Fines,
    OutboundSettings,
    PinEntry,
    PinFile,
    QuietHours,
    TollGuard,
)
from callguard.config.service import (
    AmiSettings,
    AriSettings,
    CallSettings,
    CdrSettings,
    DatabaseSettings,
    LogSettings,
    MqttSettings,
    RecordsSettings,
    ServiceSection,
)
from callguard.config.supervision import SupervisionSettings
from callguard.config.violations import LadderStep, ViolationSettings

__all__ = [
    "CHINA_AREA_CODES",
    "CHINA_NUMBER_RULES",
    "PIN_HASH_PATTERN",
    "AmiSettings",
    "AnsweringSettings",
    "AriSettings",
    "BudgetEntry",
    "BudgetSettings",
    "CallSettings",
    "CdrSettings",
    "Config",
    "DatabaseSettings",
    "Department",
    "DirectoryConfig",
    "DurationLimit",
    "Fines",
    "InboundSettings",
    "LadderStep",
    "Line",
    "LineKind",
    "LogSettings",
    "MqttSettings",
    "NumberClass",
    "NumberRule",
    "NumberingSettings",
    "OfficeHours",
    "OutboundSettings",
    "Person",
    "PinEntry",
    "PinFile",
    "QuietHours",
    "RecordsSettings",
    "Role",
    "ServiceClass",
    "ServiceSection",
    "Tariff",
    "TariffBand",
    "TariffFile",
    "TollGuard",
    "ViolationSettings",
]


class Config(Strict):
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
