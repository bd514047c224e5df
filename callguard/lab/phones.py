"""Simulated desk phones and PSTN parties: SIPp scenarios generated per behaviour.

Each scenario writes what its user experienced as `<log>` lines (RINGING,
ANSWERED, FINAL <code>, BYE_RECEIVED, CANCELLED, ...), so a test or the demo
can assert on what the caller and the callee saw, not on callguard's opinion.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from callguard.lab.errors import LabError

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
"""

_DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
_DTMF_PT = 101


def dtmf_pcap(digit: str, position: int) -> bytes:
    """One RFC 4733 key press as a pcap file SIPp replays (`play_pcap_audio`): five event
    packets 20 ms apart and three end packets. Each key press of a call gets later sequence
    numbers and a later timestamp than the one before, as a real phone sends them; replaying
    one fixed recording twice looks like an old packet to Asterisk, which drops it."""
    event = _DTMF_EVENTS[digit]
    seq0, ts = 1000 + position * 16, 8000 * (position + 1)
    packets = []
    for i, duration in enumerate([160, 320, 480, 640, 800, 800, 800, 800]):
        end = i >= 5
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack("!BBHII", 0x80, marker | _DTMF_PT, seq0 + i, ts, 0x1234ABCD)
        rtp += struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        localhost = bytes([127, 0, 0, 1])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, localhost, localhost)
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        packets.append(struct.pack("<IIII", 0, i * 20_000, len(frame), len(frame)) + frame)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + b"".join(packets)


def _dtmf_file(position: int, digit: str) -> str:
    return f"dtmf-{position:02d}-{_DTMF_EVENTS[digit]}.pcap"


def write_dtmf_files(work_dir: Path, dtmf: tuple[tuple[int, str], ...]) -> None:
    """The key presses a `caller_scenario(..., dtmf=...)` replays, in SIPp's working directory."""
    digits = "".join(d for _, group in dtmf for d in group if d != "~")
    for position, digit in enumerate(digits):
        (work_dir / _dtmf_file(position, digit)).write_bytes(dtmf_pcap(digit, position))


# Final responses a caller may get; each is logged and ACKed.
_FINAL_CODES = (400, 403, 404, 408, 480, 484, 486, 487, 488, 500, 503, 603)


def _log(msg: str) -> str:
    return f'<action><log message="[clock_tick] {msg}"/></action>'


def _log_nop(msg: str) -> str:
    return f"\n  <nop>{_log(msg)}</nop>"


def _info_keys(dtmf: tuple[tuple[int, str], ...]) -> str:
    """Key presses sent as SIP INFO (application/dtmf-relay), as many desk phones do: what a
    phone that answered types (SIPp replays RFC 4733 packets only for calls it placed). Their
    CSeqs count from 11, below the 99 of the phone's BYE."""
    steps = ""
    cseq = 10
    for pause_ms, digits in dtmf:
        steps += f'\n  <pause milliseconds="{pause_ms}"/>'
        for digit in digits:
            cseq += 1
            steps += f"""
  <send retrans="500">
    <![CDATA[
INFO [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to]
To: [$from]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={digit}
Duration=160
    ]]>
  </send>
  <recv response="200"/>
  <pause milliseconds="150"/>"""
        steps += _log_nop(f"TYPED {digits}")
    return steps


def _typing(dtmf: tuple[tuple[int, str], ...]) -> str:
    """Scenario steps that type (pause ms, digits) groups as RFC 4733 key presses; `#` is a key
    and `~` plays 1.5 s of recorded speech (the g711a sample shipped with sip-tester)."""
    keys = ""
    position = 0
    for pause_ms, digits in dtmf:
        keys += f'\n  <pause milliseconds="{pause_ms}"/>'
        for digit in digits:
            if digit == "~":
                play = f'<exec play_pcap_audio="{SPEECH_PCAP}"/>'
                keys += f'\n  <nop><action>{play}</action></nop>\n  <pause milliseconds="1500"/>'
                continue
            play = f'<exec play_pcap_audio="{_dtmf_file(position, digit)}"/>'
            keys += f'\n  <nop><action>{play}</action></nop>\n  <pause milliseconds="250"/>'
            position += 1
        keys += _log_nop(f"TYPED {digits}")
    return keys


def caller_scenario(
    caller: str,
    dialed: str,
    *,
    talk_ms: int | None = 1000,
    cancel_after_ms: int | None = None,
    wait_for_bye_ms: int = 60_000,
    dtmf: tuple[tuple[int, str], ...] = (),
) -> str:
    """A phone that dials: hangs up after `talk_ms` of talk, or waits for the far end's BYE
    (talk_ms=None), or abandons (CANCEL) `cancel_after_ms` after it first hears ringing.
    Once answered it types `dtmf`: (pause ms, digits) groups, sent as RFC 4733 events."""
    keys = _typing(dtmf)
    finals = "\n".join(
        f'  <recv response="{code}" optional="true" next="failed">{_log(f"FINAL {code}")}</recv>'
        for code in _FINAL_CODES
    )
    if cancel_after_ms is not None:
        after_ring = f"""
  <label id="ringing"/>
  <pause milliseconds="{cancel_after_ms}"/>
  <send>
    <![CDATA[
CANCEL sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialed}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" optional="true"/>
  <recv response="487">{_log("FINAL 487")}</recv>
  <send next="end">
    <![CDATA[
ACK sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""
        ringing_next = ' next="ringing"'
    else:
        after_ring = ""
        ringing_next = ' next="wait"'
    if talk_ms is not None:
        talk = f"""
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" next="end"/>
"""
    else:
        talk = f"""
  <recv request="BYE" timeout="{wait_for_bye_ms}" ontimeout="end">{_log("BYE_RECEIVED")}</recv>
  <send next="end">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callguard caller {caller} dials {dialed}">
  <send retrans="500" start_rtd="pdd">
    <![CDATA[
INVITE sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialed}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{_SDP}
    ]]>
  </send>
  <label id="wait"/>
  <recv response="100" optional="true" next="wait"/>
  <recv response="180" optional="true" rtd="pdd"{ringing_next}>{_log("RINGING")}</recv>
  <recv response="183" optional="true" next="wait">{_log("PROGRESS")}</recv>
{finals}
  <recv response="200" rrs="true">{_log("ANSWERED")}</recv>
  <send>
    <![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
{keys}
{talk}
{after_ring}
  <label id="failed"/>
  <send next="end">
    <![CDATA[
ACK sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000"/>
</scenario>
"""


def callee_scenario(
    behaviour: str,
    *,
    answer_after_ms: int = 0,
    talk_ms: int | None = None,
    ring_timeout_ms: int = 120_000,
    dtmf: tuple[tuple[int, str], ...] = (),
    dtmf_mode: str = "rfc4733",
) -> str:
    """A phone that receives: `answer` (after `answer_after_ms` of ringing, then types `dtmf`
    and hangs up after `talk_ms` or waits for BYE), `no_answer` (rings until cancelled),
    `busy` (486), `decline` (603). Keys go out as RFC 4733 events in the RTP stream, as desk
    phones send them by default, or as SIP INFO (`dtmf_mode="info"`), as some phones do."""
    if behaviour in ("busy", "decline"):
        code, text = (486, "Busy Here") if behaviour == "busy" else (603, "Decline")
        return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callguard phone {behaviour}">
  <recv request="INVITE">{_log("INVITE_RECEIVED")}</recv>
  <send>
    <![CDATA[
SIP/2.0 {code} {text}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
    if behaviour == "no_answer":
        wait_ms, on_timeout = ring_timeout_ms, "end"
    elif behaviour == "answer":
        wait_ms, on_timeout = max(answer_after_ms, 1), "answer"
    else:
        raise ValueError(f"unknown phone behaviour {behaviour!r}")
    if talk_ms is None:
        after_answer = f"""
  <recv request="BYE">{_log("BYE_RECEIVED")}</recv>
  <send next="end">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""
    else:
        after_answer = f"""
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500">
    <![CDATA[
BYE [last_Contact:] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to]
To: [$from]
Call-ID: [call_id]
CSeq: 99 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" next="end"/>
"""
        after_answer = after_answer.replace("BYE [last_Contact:]", "BYE [$contact]")
    # SIPp refuses variables that are set but never used: capture the dialog only to send a BYE.
    dialog_vars = ack_vars = ""
    if talk_ms is not None or (dtmf and dtmf_mode == "info"):
        dialog_vars = (
            '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>\n      '
            '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>\n      '
        )
        ack_vars = '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>\n      '
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callguard phone {behaviour}">
  <recv request="INVITE">
    <action>
      {dialog_vars}<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invcseq"/>
      <ereg regexp="^INVITE sip:([^@;> ]*)" search_in="msg" assign_to="ruri,dialed"/>
      <log message="[clock_tick] INVITE_RECEIVED"/>
      <log message="[clock_tick] DIALED [$dialed]"/>
      <log message="[clock_tick] REQUEST [$ruri]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL" timeout="{wait_ms}" ontimeout="{on_timeout}">{_log("CANCELLED")}</recv>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$invcseq] INVITE
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$invcseq] INVITE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{_SDP}
    ]]>
  </send>
  <recv request="ACK">
    <action>
      {ack_vars}<log message="[clock_tick] ANSWERED"/>
    </action>
  </recv>
{_info_keys(dtmf) if dtmf_mode == "info" else _typing(dtmf)}
{after_answer}
  <label id="end"/>
</scenario>
"""


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
