"""Key presses of the simulated phones as RFC 4733 events: the pcap files SIPp replays."""

from __future__ import annotations

import struct
from pathlib import Path

# (pause ms, digits) groups a phone types once answered; `~` is 1.5 s of recorded speech.
Keys = tuple[tuple[int, str], ...]

DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
_DTMF_PT = 101


def dtmf_pcap(digit: str, position: int) -> bytes:
    """One RFC 4733 key press as a pcap file SIPp replays (`play_pcap_audio`): five event
    packets 20 ms apart and three end packets. Each key press of a call gets later sequence
    numbers and a later timestamp than the one before, as a real phone sends them; replaying
    one fixed recording twice looks like an old packet to Asterisk, which drops it."""
    event = DTMF_EVENTS[digit]
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


def dtmf_file(position: int, digit: str) -> str:
    return f"dtmf-{position:02d}-{DTMF_EVENTS[digit]}.pcap"


def write_dtmf_files(work_dir: Path, dtmf: Keys) -> None:
    """The key presses a `caller_scenario(..., dtmf=...)` replays, in SIPp's working directory."""
    digits = "".join(d for _, group in dtmf for d in group if d != "~")
    for position, digit in enumerate(digits):
        (work_dir / dtmf_file(position, digit)).write_bytes(dtmf_pcap(digit, position))
