"""A throwaway PostgreSQL for the lab (`callguard bench --store postgres`), the same way the
integration tests start one: initdb with trust auth on loopback, stopped and deleted afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from callguard.lab.errors import LabError
from callguard.lab.phones import free_udp_port


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        raise LabError(f"PostgreSQL's {name} is missing: `apt install postgresql` (scripts/setup does)")
    return found


class PgServer:
    """One PostgreSQL cluster in `data`, listening on 127.0.0.1:`port`."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"postgresql+asyncpg://callguard@127.0.0.1:{port}/postgres"

    def _run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "callguard")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        log = str(self.data / "log")
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", log, "-o", options, "start")

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PgServer]:
    """A fresh cluster for the duration of the block."""
    # Not under a private (0700) folder: PostgreSQL runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="callguard-pg-"))
    os.chmod(base, 0o755)
    server = PgServer(base / "data", free_udp_port())
    try:
        server.init()
        server.start()
    except subprocess.CalledProcessError as e:
        shutil.rmtree(base, ignore_errors=True)
        raise LabError(f"PostgreSQL did not start: {e.stderr.decode(errors='replace').strip()}") from e
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
