"""What the lab sets that the project does not ship: PINs, budgets, the broker's user, fresh passwords."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from callguard.config import OutboundSettings
from callguard.pinfile import set_pin

# LOG-4: the lab prices calls with the shipped example tariff; the demo's admin budget is small
# enough that its outside calls cross 80 % (it only alerts: no test's call is refused by it).
LAB_BUDGETS = """[budgets]
refresh_s = 0.5

[[budgets.department]]
name = "admin"
amount = "1.00"
action = "alert"
"""
# The lab's authorization codes (OUT-3): person → PIN. Only the lab has them; `lab up` writes
# them hashed into its own pins.toml, and the demo and the tests type them.
LAB_PINS = {"wang.li": "246813", "liu.yang": "135790"}
MQTT_USER = "callguard"


@dataclass(frozen=True)
class Passwords:
    """The lab's secrets, new at each `lab up`: ARI, AMI and the MQTT broker's user."""

    ari: str
    ami: str
    mqtt: str

    @classmethod
    def new(cls) -> Passwords:
        return cls(secrets.token_hex(12), secrets.token_hex(12), secrets.token_hex(12))


def write_pins(path: Path) -> None:
    """The lab's own authorization codes (OUT-3), set as `callguard pin set` sets them; the
    project ships none."""
    path.unlink(missing_ok=True)  # a file from an earlier lab (or an older format)
    for person, pin in LAB_PINS.items():
        set_pin(path, person, pin, OutboundSettings().pin_min_digits)
