"""A throwaway PostgreSQL for the lab (`callguard bench --store postgres`), the same way the
integration tests start one: initdb with trust auth on loopback, stopped and deleted afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from callguard.lab.errors import LabError


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

    def start(self, attempts: int = 3) -> None:
        """Start on its port (a free TCP port the first time); a port taken between choosing and
        binding it is replaced, a restart keeps the port its clients know."""
        for attempt in range(attempts):
            if attempt or not self.port:
                self.port = free_tcp_port()
            self.url = f"postgresql+asyncpg://callguard@127.0.0.1:{self.port}/postgres"
            options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
            log = self.data / "log"
            try:
                self._run(
                    pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(log), "-o", options, "start"
                )
                return
            except subprocess.CalledProcessError:
                if attempt == attempts - 1:
                    tail = log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"
                    raise LabError(
                        f"PostgreSQL did not start on 127.0.0.1:{self.port}: {tail.strip()}"
                    ) from None

    def stop(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (a free UDP port says nothing about TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PgServer]:
    """A fresh cluster for the duration of the block."""
    # Not under a private (0700) folder: PostgreSQL runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="callguard-pg-"))
    os.chmod(base, 0o755)
    server = PgServer(base / "data", 0)
    try:
        server.init()
        server.start()
    except subprocess.CalledProcessError as e:
        shutil.rmtree(base, ignore_errors=True)
        raise LabError(f"PostgreSQL did not start: {e.stderr.decode(errors='replace').strip()}") from e
    except LabError:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
