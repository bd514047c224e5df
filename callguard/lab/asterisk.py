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
    files: dict[str, str] = {}
    files["asterisk.conf"] = f"""[directories]
astcachedir => {run_dir}/cache
astetcdir => {run_dir}/etc
astmoddir => {install.moddir}
astvarlibdir => /var/lib/asterisk
astdbdir => {run_dir}/db
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {run_dir}/spool
astrundir => {run_dir}/run
astlogdir => {run_dir}/log
astsbindir => /usr/sbin

[options]
systemname = callguard-lab
defaultlanguage = en
transmit_silence = yes
"""
    files["modules.conf"] = """[modules]
autoload = yes
; Not needed by the lab and noisy or slow to start without their services.
noload = chan_dahdi.so
noload = chan_iax2.so
noload = chan_unistim.so
noload = chan_mgcp.so
noload = chan_skinny.so
noload = chan_motif.so
noload = res_xmpp.so
noload = cdr_radius.so
noload = cel_radius.so
noload = res_config_ldap.so
noload = res_config_pgsql.so
noload = cdr_pgsql.so
noload = cel_pgsql.so
noload = res_hep.so
noload = res_hep_pjsip.so
noload = res_hep_rtcp.so
noload = res_pjsip_phoneprov_provider.so
noload = res_phoneprov.so
noload = res_statsd.so
noload = res_smdi.so
noload = res_calendar.so
noload = res_snmp.so
noload = res_corosync.so
noload = cdr_tds.so
noload = cel_tds.so
noload = res_prometheus.so
noload = app_voicemail_imap.so
noload = app_voicemail_odbc.so
noload = res_geolocation.so
noload = res_stir_shaken.so
noload = chan_console.so
noload = chan_alsa.so
noload = chan_oss.so
noload = chan_mobile.so
noload = pbx_dundi.so
noload = pbx_lua.so
noload = pbx_ael.so
noload = res_ael_share.so
noload = res_config_mysql.so
noload = res_config_odbc.so
noload = res_odbc.so
noload = res_odbc_transaction.so
"""
    files["logger.conf"] = """[general]
[logfiles]
messages.log => notice,warning,error
"""
    files["http.conf"] = (
        (DIALPLAN_DIR / "http.conf").read_text().replace("bindport = 8088", f"bindport = {ports.ari_port}")
    )
    files["ari.conf"] = (DIALPLAN_DIR / "ari.conf").read_text().replace("CHANGE_ME", ari_password)
    files["manager.conf"] = (
        (DIALPLAN_DIR / "manager.conf")
        .read_text()
        .replace("CHANGE_ME", ami_password)
        .replace("port = 5038", f"port = {ports.ami_port}")
    )
    # The lab adds one context the product does not ship: a plain Dial() for `callguard bench`.
    files["extensions.conf"] = (
        (DIALPLAN_DIR / "extensions.conf").read_text()
        + """
[callguard-bench-plain]
exten => _X.,1,Dial(PJSIP/${EXTEN},10)
 same => n,Hangup()
"""
    )
    # The fail-safe part generated from the lab's own callguard.toml, as an operator renders it.
    files[GENERATED_NAME] = render_dialplan(config)
    files["rtp.conf"] = "[general]\nrtpstart = 20000\nrtpend = 29999\n"
    # LOG-1: the CDR rows callguard imports after it was down, as shipped (log/cdr-custom/).
    files["cdr.conf"] = (DIALPLAN_DIR / "cdr.conf").read_text()
    files["cdr_custom.conf"] = (DIALPLAN_DIR / "cdr_custom.conf").read_text()
    files["pjsip.conf"] = _pjsip_conf(ports, Directory(config.directory))
    # Files Asterisk complains about when absent; empty is fine.
    for name in (
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
    ):
        files.setdefault(name, "")
    # China's tones: ring 1 s on / 4 s off, the cadence POLICY ANS-1 counts rings by.
    files["indications.conf"] = """[general]
country = cn

[cn]
description = China
ringcadence = 1000,4000
dial = 450
busy = 450/350,0/350
ring = 450/1000,0/4000
congestion = 450/700,0/700
callwaiting = 450/400,0/4000
dialrecall = 450
record = 950/400,0/10000
info = 450/100,0/100,450/100,0/100,450/100,0/100,450/400,0/400
stutter = 450+425
"""
    return files


def install_prompts(install: AsteriskInstall, sounds_dir: Path = SOUNDS_DIR) -> None:
    """Asterisk plays `sound:callguard/<name>` in language L from sounds/L/callguard/<name>.wav."""
    for lang_dir in sorted(p for p in sounds_dir.iterdir() if p.is_dir()):
        target = install.host_path(f"/usr/share/asterisk/sounds/{lang_dir.name}/callguard")
        target.mkdir(parents=True, exist_ok=True)
        for wav in lang_dir.glob("*.wav"):
            shutil.copyfile(wav, target / wav.name)


def _pjsip_conf(ports: AsteriskPorts, directory: Directory) -> str:
    out = [
        f"""[global]
type = global
user_agent = callguard-lab
endpoint_identifier_order = ip,username

[transport-udp]
type = transport
protocol = udp
bind = 0.0.0.0:{ports.sip_port}

; The simulated PSTN: calls from {ports.pstn_address} are outside calls; calls to it leave
; through the SIPp carrier on port {ports.carrier_port}.
[pstn]
type = endpoint
context = callguard-pstn
disallow = all
allow = ulaw,alaw
aors = pstn
direct_media = no

[pstn]
type = aor
contact = sip:carrier@127.0.0.1:{ports.carrier_port}

[pstn]
type = identify
endpoint = pstn
match = {ports.pstn_address}

; `callguard bench` calls from this user take a plain Dial(), without callguard.
[benchplain]
type = endpoint
context = callguard-bench-plain
disallow = all
allow = ulaw,alaw
direct_media = no
"""
    ]
    for ext in directory.extensions():
        party = directory.party(ext)
        name = (party.name or ext).replace('"', "")
        # allow_transfer = no: a SIP REFER from the phone would hand the call to Asterisk's own
        # transfer, outside the outbound rules; transfers are callguard's *2 code (XFER-2).
        out.append(f"""
[{ext}]
type = endpoint
context = callguard-phones
disallow = all
allow = ulaw,alaw
aors = {ext}
callerid = "{name}" <{ext}>
direct_media = no
allow_transfer = no

[{ext}]
type = aor
contact = sip:{ext}@127.0.0.1:{ports.phone_ports[ext]}
""")
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
