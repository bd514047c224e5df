"""The lab PBX on one machine: Asterisk, mosquitto, callguard and simulated phones, on loopback."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from callguard.ari.http import basic_auth
from callguard.calls.dial_bridges import is_dial_bridge
from callguard.config import load_config
from callguard.lab.asterisk import (
    LAB_CONF_DIR,
    AsteriskInstall,
    AsteriskPorts,
    AsteriskProcess,
    find_asterisk,
    render_config,
)
from callguard.lab.console import wait_console
from callguard.lab.errors import LabError
from callguard.lab.metrics_page import read_metrics
from callguard.lab.mosquitto import mosquitto_command
from callguard.lab.phones import callee_scenario, require_sipp
from callguard.lab.processes import alive as _alive
from callguard.lab.processes import stop_pid as _stop_pid
from callguard.lab.settings import LAB_BUDGETS, LAB_PINS, MQTT_USER, Passwords, write_pins
from callguard.lab.state import LabPorts, LabState, default_state_dir
from callguard.policy import Directory

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DIRECTORY = PROJECT_DIR / "config" / "directory.toml"
ARI_CONNECTS = "callguard_ari_connects_total"  # the readiness check: this process reached ARI

# Imported from here by the tests, the demo and the CLI.
__all__ = [
    "LAB_BUDGETS",
    "LAB_PINS",
    "Lab",
    "LabPorts",
    "LabState",
    "Passwords",
    "_alive",
    "default_state_dir",
]


class Lab:
    """Starts and stops the lab's processes; the CLI (`callguard lab ...`) and the tests use it."""

    def __init__(
        self,
        state_dir: Path | None = None,
        ports: LabPorts | None = None,
        directory_file: Path = DEFAULT_DIRECTORY,
        calls: dict[str, Any] | None = None,
        node: str = "lab",
        outbound_config: str = "",
        extra_config: str = "",
        budgets_config: str = LAB_BUDGETS,
        database_url: str | None = None,
    ) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.ports = ports or LabPorts()
        self.directory_file = directory_file.resolve()
        self.calls = calls or {}
        self.node = node
        self.outbound_config = outbound_config  # more [outbound] settings (tests: short limits)
        self.extra_config = extra_config  # further sections of callguard.toml
        self.budgets_config = budgets_config  # the [budgets] section (LOG-4)
        # The store: the lab's own SQLite file unless given (the bench's --store postgres).
        self.database_url = database_url or f"sqlite+aiosqlite:///{self.state_dir}/calls.db"
        self.state_file = self.state_dir / "state.json"
        self.state: LabState | None = LabState.load(self.state_file) if self.state_file.exists() else None

    # --- set-up -------------------------------------------------------------------------

    def _write_callguard_config(self, passwords: Passwords) -> Path:
        cfg_dir = self.state_dir / "config"
        cfg_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.directory_file, cfg_dir / "directory.toml")
        write_pins(cfg_dir / "pins.toml")
        shutil.copyfile(PROJECT_DIR / "config" / "tariffs.toml", cfg_dir / "tariffs.toml")
        path = cfg_dir / "callguard.toml"
        template = (LAB_CONF_DIR / "callguard.toml").read_text(encoding="utf-8")
        path.write_text(
            template.format(
                node=self.node,
                ports=self.ports,
                passwords=passwords,
                state_dir=self.state_dir,
                mqtt_user=MQTT_USER,
                cdr_file=self._cdr_file(),
                calls="\n".join(f"{k} = {json.dumps(v)}" for k, v in self.calls.items()),
                outbound_config=self.outbound_config,
                budgets_config=self.budgets_config,
                extra_config=self.extra_config,
                database_url=self.database_url,
            )
        )
        return path

    def _cdr_file(self) -> Path:
        """The lab Asterisk's cdr_custom CSV (LOG-1), as callguard on the host reads it."""
        return self._asterisk().host_run_dir / "log" / "cdr-custom" / "callguard.csv"

    def up(self, phones: bool = True, controller: bool = True, console: bool = False) -> LabState:
        """Start everything; raise LabError with one sentence if a prerequisite is missing."""
        self._check_prerequisites(phones)
        install = find_asterisk()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        passwords = Passwords.new()
        config_path = self._write_callguard_config(passwords)
        config = load_config(config_path)
        phone_ports = {
            ext: self.ports.phone(i) for i, ext in enumerate(Directory(config.directory).extensions())
        }
        asterisk = AsteriskProcess(install, self.state_dir)
        self.state = self._new_state(passwords, config_path, phone_ports, asterisk, install)
        ports = AsteriskPorts(
            self.ports.sip,
            self.ports.ari,
            self.ports.ami,
            self.ports.carrier,
            self.ports.pstn_address,
            phone_ports,
        )
        asterisk.write_config(
            render_config(install, asterisk.run_dir, ports, config, passwords.ari, passwords.ami)
        )
        try:
            self.start_mosquitto()
            self.start_asterisk()
            if controller:
                self.start_controller()
            if console:
                self.start_console()
            if phones:
                self._start_phones(phone_ports)
        except BaseException:
            self.down()
            raise
        return self.state

    def _check_prerequisites(self, phones: bool) -> None:
        if self.state is not None and any(_alive(p) for p in self.state.pids.values()):
            raise LabError(f"a lab is already running from {self.state_dir}; `callguard lab down` first")
        if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
            raise LabError("mosquitto is not installed: `apt install mosquitto` (the lab's MQTT broker).")
        if phones:
            require_sipp()

    def _new_state(
        self,
        passwords: Passwords,
        config_path: Path,
        phone_ports: dict[str, int],
        asterisk: AsteriskProcess,
        install: AsteriskInstall,
    ) -> LabState:
        return LabState(
            state_dir=str(self.state_dir),
            ari_url=f"http://127.0.0.1:{self.ports.ari}",
            ari_user="callguard",
            ari_password=passwords.ari,
            ami_port=self.ports.ami,
            ami_user="callguard",
            ami_password=passwords.ami,
            sip_host=self.ports.host,
            sip_port=self.ports.sip,
            mqtt_host=self.ports.host,
            mqtt_port=self.ports.mqtt,
            database_url=self.database_url,
            config_path=str(config_path),
            pstn_address=self.ports.pstn_address,
            carrier_port=self.ports.carrier,
            phones=phone_ports,
            asterisk_run_dir=str(asterisk.host_run_dir),
            asterisk_root=str(install.root) if install.root else None,
            callguard_log=str(self.state_dir / "callguard.log"),
            mqtt_user=MQTT_USER,
            mqtt_password=passwords.mqtt,
            metrics_url=f"http://127.0.0.1:{self.ports.metrics}/metrics",
        )

    def _save(self) -> None:
        assert self.state is not None
        self.state.save(self.state_file)

    def _popen(self, name: str, argv: list[str]) -> int:
        assert self.state is not None
        log = (self.state_dir / f"{name}.out").open("ab")
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(self.state_dir),
        )
        log.close()
        self.state.pids[name] = proc.pid
        self._save()
        return proc.pid

    def _wait_port(self, port: int, what: str, pid: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise LabError(f"{what} exited during start-up; see {self.state_dir}/{what}.out")
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise LabError(f"{what} did not listen on port {port} within {timeout:.0f} s")

    def start_mosquitto(self) -> None:
        assert self.state is not None
        argv = mosquitto_command(
            self.state_dir, self.ports.mqtt, self.state.mqtt_user, self.state.mqtt_password
        )
        pid = self._popen("mosquitto", argv)
        self._wait_port(self.ports.mqtt, "mosquitto", pid)

    def stop_mosquitto(self) -> None:
        self._stop("mosquitto")

    def _asterisk(self) -> AsteriskProcess:
        return AsteriskProcess(find_asterisk(build=False), self.state_dir)

    def start_asterisk(self) -> None:
        assert self.state is not None
        asterisk = self._asterisk()
        proc = asterisk.start(self.state_dir / "asterisk.out")
        self.state.pids["asterisk"] = proc.pid
        self._save()
        asterisk.wait_booted(proc)

    def stop_asterisk(self) -> None:
        assert self.state is not None
        if "asterisk" in self.state.pids and _alive(self.state.pids["asterisk"]):
            try:
                self._asterisk().rx("core stop now", timeout=10)
            except (subprocess.TimeoutExpired, OSError, LabError):
                pass
        self._stop("asterisk")

    def asterisk_log(self) -> str:
        """Asterisk's messages.log (notices, warnings, errors)."""
        path = self._asterisk().host_run_dir / "log" / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def asterisk_recording(self, name: str) -> Path:
        """Where Asterisk put a recording (a message, XFER-3) of this lab."""
        return self._asterisk().host_run_dir / "spool" / "recording" / name

    def asterisk_rx(self, command: str) -> str:
        return self._asterisk().rx(command)

    def start_controller(self, wait: bool = True) -> None:
        assert self.state is not None
        pid = self._popen(
            "callguard", [sys.executable, "-m", "callguard", "run", "--config", self.state.config_path]
        )
        if wait:
            self.wait_controller_connected(pid)

    def wait_controller_connected(self, pid: int | None = None, timeout: float = 30.0) -> None:
        """The controller is ready when this process has connected to ARI (its metrics say so).
        Asterisk listing the application is not enough: the dial bridges keep an application
        Asterisk knows, but not active, while callguard restarts."""
        assert self.state is not None
        pid = pid or self.state.pids.get("callguard")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid is not None and not _alive(pid):
                raise LabError(f"callguard exited during start-up; see {self.state_dir}/callguard.out")
            if self._ari_connects() >= 1:
                return
            time.sleep(0.1)
        raise LabError(f"callguard did not connect to ARI within {timeout:.0f} s")

    def reconfigure(self, outbound_config: str, extra_config: str | None = None) -> None:
        """Restart callguard with other settings (Asterisk and the calls' state stay)."""
        assert self.state is not None
        self.outbound_config = outbound_config
        if extra_config is not None:
            self.extra_config = extra_config
        state = self.state
        self._write_callguard_config(Passwords(state.ari_password, state.ami_password, state.mqtt_password))
        self.stop_controller()
        self.start_controller()

    def start_console(self) -> str:
        """`callguard web` on the lab's database and broker; its URL once it answers."""
        assert self.state is not None
        argv = [sys.executable, "-m", "callguard", "web", "--config", self.state.config_path]
        pid = self._popen("web", argv + ["--port", str(self.ports.console)])
        url = f"http://127.0.0.1:{self.ports.console}"
        wait_console(url, lambda: _alive(pid))
        self.state.web_url = url
        self._save()
        return url

    def stop_console(self) -> None:
        assert self.state is not None
        self.state.web_url = ""
        self._stop("web")

    def stop_controller(self, kill: bool = False) -> None:
        self._stop("callguard", sig=signal.SIGKILL if kill else signal.SIGTERM)

    def ari_get(self, path: str) -> Any:
        """A plain GET on ARI (None on 404 or no answer) for status checks and tests."""
        assert self.state is not None
        req = urllib.request.Request(self.state.ari_url + "/ari" + path)
        req.add_header("Authorization", basic_auth(self.state.ari_user, self.state.ari_password))
        try:
            with urllib.request.urlopen(req, timeout=3) as resp:
                return json.loads(resp.read() or b"null")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _ari_connects(self) -> float:
        """callguard_ari_connects_total of the running controller (0 before it serves metrics)."""
        assert self.state is not None
        figures = read_metrics(self.state.metrics_url, [ARI_CONNECTS], timeout_s=2) or {}
        return figures.get(ARI_CONNECTS, 0.0)

    def bridges_left(self) -> list[Any] | None:
        """The bridges a finished call left behind: every bridge but callguard's empty dial
        bridges, which it keeps for the next ringing legs (calls/dial_bridges.py)."""
        bridges = self.ari_get("/bridges")
        if bridges is None:
            return None
        return [b for b in bridges if not (is_dial_bridge(str(b.get("id"))) and not b.get("channels"))]

    def _start_phones(self, phone_ports: dict[str, int]) -> None:
        """Every desk phone answers after two seconds and talks until the caller hangs up;
        the carrier answers every outbound call the same way."""
        sipp = require_sipp()
        phones_dir = self.state_dir / "phones"
        phones_dir.mkdir(exist_ok=True)
        scen = phones_dir / "answer.xml"
        scen.write_text(callee_scenario("answer", answer_after_ms=2000))
        for ext, port in {**phone_ports, "carrier": self.ports.carrier}.items():
            self._popen(
                f"phone-{ext}",
                [
                    sipp,
                    "-sf",
                    str(scen),
                    "-nostdin",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-trace_err",
                    "-error_file",
                    str(phones_dir / f"{ext}.err"),
                ],
            )

    # --- tear-down ------------------------------------------------------------------------

    def _stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        assert self.state is not None
        pid = self.state.pids.pop(name, None)
        if pid is not None:
            _stop_pid(pid, sig=sig)
        self._save()

    def down(self) -> None:
        """Stop every process the lab started; leave none behind."""
        if self.state is None:
            return
        for name in [n for n in self.state.pids if n.startswith("phone-")]:
            self._stop(name)
        self._stop("web")
        self._stop("callguard")
        self.stop_asterisk()
        self._stop("mosquitto")
        for name in list(self.state.pids):
            self._stop(name)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        if self.state is None:
            raise LabError(f"no lab is running from {self.state_dir} (start one with `callguard lab up`)")
        data = asdict(self.state)
        data["running"] = {name: _alive(pid) for name, pid in self.state.pids.items()}
        return data
