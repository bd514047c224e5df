"""Where the lab lives and what it is: its state directory, its ports, and the state `lab status` prints."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callguard.lab.console import console_port


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "callguard" / "lab"


@dataclass(frozen=True)
class LabPorts:
    """Every port of the lab; `offset` shifts them all so a second lab (the tests) can run beside."""

    offset: int = 0
    host: str = "127.0.0.1"
    pstn_address: str = "127.0.0.2"

    @property
    def sip(self) -> int:
        return 5060 + self.offset

    @property
    def ari(self) -> int:
        return 8088 + self.offset

    @property
    def ami(self) -> int:
        return 5038 + self.offset

    @property
    def mqtt(self) -> int:
        return 1883 + self.offset

    @property
    def carrier(self) -> int:
        return 5090 + self.offset

    @property
    def metrics(self) -> int:
        # 9464 (the usual Prometheus exporter port): 984 from the console's 8480, so no two labs
        # at offsets a multiple of 100 apart ever take each other's ports (9480 did, 1000 apart).
        return 9464 + self.offset

    @property
    def console(self) -> int:
        return console_port(self.offset)

    def phone(self, index: int) -> int:
        return 16000 + self.offset + index


@dataclass
class LabState:
    """What `lab status --json` prints: everything another program needs to drive the lab."""

    state_dir: str
    ari_url: str
    ari_user: str
    ari_password: str
    ami_port: int
    ami_user: str
    ami_password: str
    sip_host: str
    sip_port: int
    mqtt_host: str
    mqtt_port: int
    database_url: str
    config_path: str
    pstn_address: str
    carrier_port: int
    phones: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)
    asterisk_run_dir: str = ""
    asterisk_root: str | None = None
    callguard_log: str = ""
    # The broker admits no anonymous client: MQTT subscribers log in with these.
    mqtt_user: str = ""
    mqtt_password: str = ""
    metrics_url: str = ""  # the controller's Prometheus metrics
    web_url: str = ""  # the console (`callguard web`) while it runs

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> LabState:
        return cls(**json.loads(path.read_text()))
