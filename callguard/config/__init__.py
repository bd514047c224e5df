"""Typed configuration: the service settings and the company directory, loaded from TOML."""

from callguard.config._load import ConfigError, load_config
from callguard.config._models import (
    AmiSettings,
    AriSettings,
    CallSettings,
    Config,
    DatabaseSettings,
    Department,
    DirectoryConfig,
    Line,
    LineKind,
    LogSettings,
    MqttSettings,
    Person,
    Role,
)

__all__ = [
    "AmiSettings",
    "AriSettings",
    "CallSettings",
    "Config",
    "ConfigError",
    "DatabaseSettings",
    "Department",
    "DirectoryConfig",
    "Line",
    "LineKind",
    "LogSettings",
    "MqttSettings",
    "Person",
    "Role",
    "load_config",
]
