"""Simulated desk phones and PSTN parties: SIPp processes running the scenarios of
`scenarios.py`, and what their users experienced (the scenarios' `<log>` lines)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from callguard.lab.dtmf import Keys, dtmf_pcap, write_dtmf_files
from callguard.lab.errors import LabError
from callguard.lab.scenarios import callee_scenario, caller_scenario

# The scenarios and key presses are imported from here by the tests, the demo and the bench.
__all__ = [
    "Keys",
    "SippRun",
    "callee_scenario",
    "caller_scenario",
    "dtmf_pcap",
    "free_udp_port",
    "one_call_args",
    "require_sipp",
    "start_sipp",
    "write_dtmf_files",
]


@dataclass
class SippRun:
    """One SIPp process and what its user experienced."""

    name: str
    proc: asyncio.subprocess.Process
    log_file: Path
    err_file: Path
    started: float = field(default_factory=time.monotonic)

    def events(self) -> list[tuple[int, str]]:
        """(clock_tick ms, event) pairs in order."""
        out: list[tuple[int, str]] = []
        if not self.log_file.exists():
            return out
        for line in self.log_file.read_text(errors="replace").splitlines():
            tick, _, msg = line.strip().partition(" ")
            if tick.isdigit() and msg:
                out.append((int(tick), msg))
        return out

    def dialed(self) -> list[str]:
        """The numbers this phone (or carrier) was called on, from each INVITE's request URI."""
        return [msg.split(" ", 1)[1] for _, msg in self.events() if msg.startswith("DIALED ")]

    def saw(self, event: str) -> bool:
        return any(msg == event for _, msg in self.events())

    def final_code(self) -> int | None:
        for _, msg in self.events():
            if msg.startswith("FINAL "):
                return int(msg.split()[1])
        return None

    async def wait(self, timeout: float = 60.0) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def free_udp_port(local_ip: str = "127.0.0.1") -> int:
    """A UDP port nobody on `local_ip` uses right now, for a SIPp phone that places a call."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((local_ip, 0))
        port: int = s.getsockname()[1]
        return port


def one_call_args(sip_host: str, sip_port: int, local_ip: str = "127.0.0.1") -> list[str]:
    """SIPp arguments for a phone that places one call to Asterisk from a free port
    (`local_ip` = the lab's PSTN address for a call from outside)."""
    return [
        f"{sip_host}:{sip_port}",
        "-i",
        local_ip,
        "-p",
        str(free_udp_port(local_ip)),
        "-m",
        "1",
        "-timeout",
        "60s",
    ]


def require_sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise LabError("SIPp is not installed: `apt install sip-tester` (it simulates the desk phones).")
    return path


async def start_sipp(work_dir: Path, name: str, scenario_xml: str, args: list[str]) -> SippRun:
    """Start SIPp with a generated scenario; `args` carry addresses, ports and call counts."""
    sipp = require_sipp()
    work_dir.mkdir(parents=True, exist_ok=True)
    scen = work_dir / f"{name}.xml"
    scen.write_text(scenario_xml)
    log_file = work_dir / f"{name}.log"
    err_file = work_dir / f"{name}.err"
    for f in (log_file, err_file):
        f.unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sipp,
        "-sf",
        str(scen),
        "-nostdin",
        "-trace_logs",
        "-log_file",
        str(log_file),
        "-trace_err",
        "-error_file",
        str(err_file),
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(work_dir),
    )
    return SippRun(name=name, proc=proc, log_file=log_file, err_file=err_file)
