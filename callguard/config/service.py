"""The service's own settings: node, state, Asterisk (ARI, AMI), database, MQTT, logs, CDR,
records' retention."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from callguard.config.base import Strict


class AriSettings(Strict):
    url: str = "http://127.0.0.1:8088"
    user: str = "callguard"
    password: str = Field(default="", description="or CALLGUARD_ARI_PASSWORD")
    app: str = "callguard"
    request_timeout_s: float = Field(default=5.0, gt=0)
    ping_interval_s: float = Field(default=10.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    # How REST requests travel. "http" (default): in parallel, one Asterisk thread each. "auto" on
    # the event websocket when Asterisk takes them there (20.14, 21.9, 22.4 and later), else HTTP:
    # ~0.9 ms less controller CPU a call, but Asterisk serves a websocket's requests one at a time,
    # and at the two cores' saturation (150 calls/s) that queue shed 3-10x more calls (README).
    transport: Literal["auto", "websocket", "http"] = "http"


class AmiSettings(Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    user: str = "callguard"
    password: str = Field(default="", description="or CALLGUARD_AMI_PASSWORD")


class DatabaseSettings(Strict):
    # Relative paths (the SQLite file, the journal) are in [service] state_dir.
    url: str = Field(default="sqlite+aiosqlite:///callguard.db", description="or CALLGUARD_DATABASE_URL")
    journal: str = "callguard-journal.jsonl"
    retry_interval_s: float = Field(default=5.0, gt=0)
    # LOG-2: records kept in memory while neither the database nor the journal can be written;
    # past this the oldest are dropped (store.dropping, alert.records_dropped).
    memory_queue_max: int = Field(default=100_000, ge=1)
    # Records gathered this long before each transaction (one per batch instead of one per call
    # event); LOG-1: also the most a crash (SIGKILL) can lose of records not yet written.
    write_interval_ms: int = Field(default=100, ge=0, le=5_000)


class MqttSettings(Strict):
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


class LogSettings(Strict):
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    file: str = ""
    # SEC-2: mask outside numbers (138****8000) in log lines; extensions stay readable.
    mask_numbers: bool = False


class CallSettings(Strict):
    # Asterisk's dial timeout for a leg that no ANS-1 ring limit ends (a line that rings on, ANS-2).
    no_answer_timeout_s: int = Field(default=30, ge=1, le=600)
    # Calls still being set up (not yet ringing) beyond which new calls are refused at once with
    # congestion (SIP 503) instead of queueing behind them: an overloaded PBX answers fast.
    max_calls_in_setup: int = Field(default=20, ge=1)


class CdrSettings(Strict):
    """LOG-1: calls the dialplan handled alone while callguard was down come from Asterisk's CDR
    (cdr_custom, dialplan/cdr_custom.conf), imported at start and at each ARI/AMI reconnect."""

    enabled: bool = True
    # The CSV as callguard reads it (relative: to this file); a missing file is a warning.
    file: str = "/var/log/asterisk/cdr-custom/callguard.csv"
    # Also every so often: a row Asterisk writes just after callguard's start-up import (a call
    # that ended then) would otherwise wait for the next reconnect.
    import_every_s: float = Field(default=300.0, gt=0)


class ServiceSection(Strict):
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

    @property
    def tone_zone(self) -> str:
        """Asterisk's tone zone (indications.conf) of the language's country: the ringback
        callguard plays (zh_CN rings as "cn"); "" for a language without a country."""
        return tone_zone(self.language)


def tone_zone(language: str) -> str:
    return language.partition("_")[2].lower()


class RecordsSettings(Strict):
    """LOG-2: `callguard db prune` deletes whole local months older than this many months, after
    writing each month's bill to <state_dir>/bills/YYYY-MM.csv; 0 keeps records for ever."""

    retention_months: int = Field(default=36, ge=0, le=1200)
