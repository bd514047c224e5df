"""A real Asterisk for the lab: find or build it, write its config, start and stop it."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callguard.config import Config
from callguard.dialplan import GENERATED_NAME, render_dialplan
from callguard.lab.errors import LabError
from callguard.policy import Directory

DIALPLAN_DIR = Path(__file__).resolve().parents[2] / "dialplan"
SOUNDS_DIR = Path(__file__).resolve().parents[2] / "sounds"
LAB_CONF_DIR = Path(__file__).resolve().parent / "conf"  # the lab's own files (conf/README.md)
SID_PACKAGES = "asterisk,asterisk-core-sounds-en-gsm"
MIRROR = "http://deb.debian.org/debian"


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "callguard"


@dataclass(frozen=True)
class AsteriskInstall:
    """Where Asterisk lives: `root` is a chroot, or None for the system's own binary."""

    root: Path | None
    moddir: str

    def host_path(self, inside: str) -> Path:
        """A path as Asterisk sees it, translated to the host. Symbolic links on the way are
        followed inside the root (Debian links sounds/en to /etc/alternatives/...)."""
        if self.root is None:
            return Path(inside)
        current = self.root
        for part in Path(inside).parts[1:]:
            current = current / part
            for _ in range(16):
                if not current.is_symlink():
                    break
                target = os.readlink(current)
                current = (
                    self.root / target.lstrip("/") if target.startswith("/") else current.parent / target
                )
        return current

    def command(self, *args: str) -> list[str]:
        if self.root is None:
            return ["asterisk", *args]
        return ["chroot", str(self.root), "/usr/sbin/asterisk", *args]


def _moddir_of(asterisk_conf: Path) -> str:
    for line in asterisk_conf.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=>")
        if key.strip() == "astmoddir":
            return value.split(";")[0].strip()
    return "/usr/lib/asterisk/modules"


def find_asterisk(build: bool = True) -> AsteriskInstall:
    """The system's Asterisk, else the cached Debian-sid root (built on first use)."""
    if shutil.which("asterisk") and Path("/etc/asterisk/asterisk.conf").exists():
        return AsteriskInstall(root=None, moddir=_moddir_of(Path("/etc/asterisk/asterisk.conf")))
    root = cache_dir() / "asterisk-root"
    if not (root / "usr/sbin/asterisk").exists():
        if not build:
            raise LabError(
                "Asterisk is not installed; run `callguard lab up` once to build the lab's Asterisk."
            )
        build_sid_root(root)
    return AsteriskInstall(root=root, moddir=_moddir_of(root / "etc/asterisk/asterisk.conf"))


def build_sid_root(root: Path) -> None:
    """Debian 12 has no Asterisk package; Debian sid has Asterisk 22. Build a chroot of it once."""
    if os.geteuid() != 0:
        raise LabError(
            "No Asterisk found. Install it (`apt install asterisk` on Debian trixie+/Ubuntu), "
            "or run as root so the lab can build a Debian-sid Asterisk root with debootstrap, "
            "or use docker/compose.yaml."
        )
    if not shutil.which("debootstrap"):
        raise LabError(
            "No Asterisk found and no debootstrap to build one: `apt install debootstrap` "
            "(or `apt install asterisk` where your distribution has it)."
        )
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"callguard lab: building a Debian-sid Asterisk root in {root} (about a minute, once)...", flush=True
    )
    result = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={SID_PACKAGES}", "sid", str(tmp), MIRROR],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise LabError("debootstrap of Debian sid failed: " + " | ".join(tail))
    tmp.rename(root)


_EMPTY_FILES = (
    "cdr.conf",
    "cel.conf",
    "features.conf",
    "musiconhold.conf",
    "indications.conf",
    "udptl.conf",
    "acl.conf",
    "ccss.conf",
    "cli.conf",
    "pjproject.conf",
    "stasis.conf",
    "sorcery.conf",
    "res_parking.conf",
    "confbridge.conf",
    "codecs.conf",
    "dnsmgr.conf",
    "extconfig.conf",
    "enum.conf",
    "dsp.conf",
    "prometheus.conf",
    "statsd.conf",
)


@dataclass(frozen=True)
class AsteriskPorts:
    sip_port: int
    ari_port: int
    ami_port: int
    carrier_port: int
    pstn_address: str
    phone_ports: dict[str, int]


def render_config(
    install: AsteriskInstall,
    run_dir: str,
    ports: AsteriskPorts,
    config: Config,
    ari_password: str,
    ami_password: str,
) -> dict[str, str]:
    """Every Asterisk config file of the lab, keyed by file name. `run_dir` is as Asterisk sees it."""
    # Files Asterisk complains about when absent; empty is fine.
    files = dict.fromkeys(_EMPTY_FILES, "")
    files["asterisk.conf"] = _conf("asterisk.conf").format(run_dir=run_dir, moddir=install.moddir)
    for name in ("modules.conf", "logger.conf"):
        files[name] = _conf(name)
    files.update(_shipped_files(ports, ari_password, ami_password))
    # The fail-safe part generated from the lab's own callguard.toml, as an operator renders it.
    files[GENERATED_NAME] = render_dialplan(config)
    files["rtp.conf"] = "[general]\nrtpstart = 20000\nrtpend = 29999\n"
    files["pjsip.conf"] = _pjsip_conf(ports, Directory(config.directory))
    files["indications.conf"] = indications_conf(config.service.tone_zone)
    return files


def indications_conf(zone: str) -> str:
    """China's tones (ring 1 s on / 4 s off, the cadence POLICY ANS-1 counts rings by); the
    zone Asterisk uses by default is the one of callguard's configured language, as its ringback."""
    return _conf("indications.conf").replace("country = cn", f"country = {zone or 'cn'}", 1)


def _conf(name: str) -> str:
    return (LAB_CONF_DIR / name).read_text(encoding="utf-8")


def _shipped_files(ports: AsteriskPorts, ari_password: str, ami_password: str) -> dict[str, str]:
    """The files of `dialplan/` as an operator installs them: the lab's ports and passwords set."""

    def shipped(name: str) -> str:
        return (DIALPLAN_DIR / name).read_text()

    return {
        "http.conf": shipped("http.conf").replace("bindport = 8088", f"bindport = {ports.ari_port}"),
        "ari.conf": shipped("ari.conf").replace("CHANGE_ME", ari_password),
        "manager.conf": shipped("manager.conf")
        .replace("CHANGE_ME", ami_password)
        .replace("port = 5038", f"port = {ports.ami_port}"),
        # The lab adds one context the product does not ship: a plain Dial() for `callguard bench`.
        "extensions.conf": shipped("extensions.conf") + _conf("extensions_bench.conf"),
        # LOG-1: the CDR rows callguard imports after it was down, as shipped (log/cdr-custom/).
        "cdr.conf": shipped("cdr.conf"),
        "cdr_custom.conf": shipped("cdr_custom.conf"),
    }


def install_prompts(install: AsteriskInstall, sounds_dir: Path = SOUNDS_DIR) -> None:
    """Asterisk plays `sound:callguard/<name>` in language L from sounds/L/callguard/<name>.wav."""
    for lang_dir in sorted(p for p in sounds_dir.iterdir() if p.is_dir()):
        target = install.host_path(f"/usr/share/asterisk/sounds/{lang_dir.name}/callguard")
        target.mkdir(parents=True, exist_ok=True)
        for wav in lang_dir.glob("*.wav"):
            shutil.copyfile(wav, target / wav.name)


def _pjsip_conf(ports: AsteriskPorts, directory: Directory) -> str:
    out = [
        _conf("pjsip.conf").format(
            sip_port=ports.sip_port, pstn_address=ports.pstn_address, carrier_port=ports.carrier_port
        )
    ]
    for ext in directory.extensions():
        party = directory.party(ext)
        name = (party.name or ext).replace('"', "")
        # allow_transfer = no: a SIP REFER from the phone would hand the call to Asterisk's own
        # transfer, outside the outbound rules; transfers are callguard's *2 code (XFER-2).
        out.append(_conf("pjsip_phone.conf").format(ext=ext, name=name, port=ports.phone_ports[ext]))
    return "".join(out)


class AsteriskProcess:
    """One running Asterisk of the lab, started in the foreground as a child process."""

    def __init__(self, install: AsteriskInstall, state_dir: Path) -> None:
        self.install = install
        digest = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:10]
        # Inside a chroot, everything Asterisk reads or writes must live under the root.
        self.run_dir = f"/var/lib/callguard-lab/{digest}" if install.root else str(state_dir / "asterisk")
        self.host_run_dir = install.host_path(self.run_dir)
        self.conf = f"{self.run_dir}/etc/asterisk.conf"

    def write_config(self, files: dict[str, str]) -> None:
        for sub in ("etc", "db", "spool", "spool/recording", "run", "log", "log/cdr-custom", "cache"):
            (self.host_run_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (self.host_run_dir / "etc" / name).write_text(text)
        install_prompts(self.install)
        if self.install.root is not None:
            # Without these, Asterisk waits on DNS that never answers here, on every call.
            etc = self.install.root / "etc"
            (etc / "hosts").write_text(f"127.0.0.1 localhost {platform.node()}\n::1 localhost\n")
            (etc / "resolv.conf").write_text("")

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        pidfile = self.host_run_dir / "run" / "asterisk.pid"
        pidfile.unlink(missing_ok=True)
        with log_path.open("ab") as logf:
            # Run as root without -U: with -U Asterisk drops capabilities and cannot write its db.
            return subprocess.Popen(
                self.install.command("-f", "-C", self.conf),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def rx(self, command: str, timeout: float = 10.0) -> str:
        result = subprocess.run(
            self.install.command("-C", self.conf, "-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result.stdout

    def wait_booted(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(
                    f"Asterisk exited during start-up (code {proc.returncode}); "
                    f"see {self.host_run_dir}/log/messages.log"
                )
            try:
                out = self.rx("core waitfullybooted", timeout=5)
                if "fully booted" in out.lower():
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.3)
        raise LabError(f"Asterisk did not finish booting within {timeout:.0f} s")
