"""Pydantic models of callguard.toml and directory.toml."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


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
    url: str = Field(default="sqlite+aiosqlite:///callguard.db", description="or CALLGUARD_DATABASE_URL")
    journal: str = "callguard-journal.jsonl"
    retry_interval_s: float = Field(default=5.0, gt=0)


class MqttSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = "callguard"
    outbox_size: int = Field(default=10_000, ge=1)
    reconnect_max_s: float = Field(default=10.0, gt=0)


class LogSettings(_Strict):
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    file: str = ""


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
    front_desk = "front_desk"
    alarm = "alarm"
    duty = "duty"
    operator = "operator"


class Department(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1)


class Person(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str = Field(min_length=1)
    department: str
    role: Role = Role.employee
    assistants: tuple[str, ...] = ()


class Line(_Strict):
    extension: str = Field(pattern=r"^[0-9]{2,8}$")
    kind: LineKind = LineKind.desk
    person: str | None = None
    department: str | None = None
    label: str | None = None


class DirectoryConfig(_Strict):
    company: str = Field(min_length=1)
    departments: tuple[Department, ...] = ()
    people: tuple[Person, ...] = ()
    lines: tuple[Line, ...] = ()


class ServiceSection(_Strict):
    node: str = Field(default="callguard", pattern=r"^[A-Za-z0-9_-]+$")
    directory: str = "directory.toml"


class Config(_Strict):
    """Everything `callguard run` needs; `source` is the file it came from."""

    service: ServiceSection = ServiceSection()
    ari: AriSettings = AriSettings()
    ami: AmiSettings = AmiSettings()
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    log: LogSettings = LogSettings()
    calls: CallSettings = CallSettings()
    directory: DirectoryConfig
    source: Path
