"""The lab's MQTT broker: one user and no anonymous clients, as in a deployment."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from pathlib import Path

from callguard.lab.errors import LabError


def mosquitto_command(state_dir: Path, port: int, user: str, password: str) -> list[str]:
    """Write the broker's password file and config into `state_dir`; the command that starts it."""
    conf = state_dir / "mosquitto.conf"
    passwords = state_dir / "mosquitto.passwd"
    # No anonymous clients, as in a deployment: one user, hashed by mosquitto's own tool.
    result = subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), user, password],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise LabError(f"mosquitto_passwd failed: {(result.stderr or result.stdout).strip()}")
    # Persistence keeps queued messages of durable subscribers (clean_session=False) across
    # a broker restart, as an operations consumer would rely on.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        # As root mosquitto would switch to its own user, who cannot read a private state dir.
        f"user {getpass.getuser()}\n"
        f"persistence true\npersistence_location {state_dir}/\n"
    )
    return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)]
