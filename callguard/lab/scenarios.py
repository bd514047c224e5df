"""SIPp scenarios of the lab's simulated phones, filled in from the templates in `sipp/`.

Each scenario writes what its user experienced as `<log>` lines (RINGING, ANSWERED, FINAL <code>,
BYE_RECEIVED, CANCELLED, TYPED <digits>, ...), so a test or the demo can assert on what the caller
and the callee saw, not on callguard's opinion.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from callguard.lab.dtmf import SPEECH_PCAP, Keys, dtmf_file

TEMPLATES = Path(__file__).parent / "sipp"

# Final responses a caller may get; each is logged and ACKed.
FINAL_CODES = (400, 403, 404, 408, 480, 484, 486, 487, 488, 500, 503, 603)
# What a phone that refuses answers: behaviour -> (SIP code, reason phrase).
REFUSALS = {"busy": (486, "Busy Here"), "decline": (603, "Decline")}

_PAUSE = '\n  <pause milliseconds="{ms}"/>'
_PLAY = '\n  <nop><action><exec play_pcap_audio="{file}"/></action></nop>' + _PAUSE
_TYPED = '\n  <nop><action><log message="[clock_tick] TYPED {digits}"/></action></nop>'
# SIPp refuses variables that are set but never used: the dialog is captured only to send a BYE or INFO.
_DIALOG_VARS = (
    '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>\n      '
    '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>\n      '
)
_ACK_VARS = '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>\n      '
SPEECH_MS = 1500  # the length of sip-tester's g711a sample
KEY_GAP_MS = 250


@cache
def template(name: str) -> str:
    """A file of `sipp/` as it is; `{name}` placeholders are filled with str.format."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


def typing_steps(dtmf: Keys) -> str:
    """Steps that type (pause ms, digits) groups as RFC 4733 key presses; `#` is a key and `~`
    plays 1.5 s of recorded speech (the g711a sample shipped with sip-tester)."""
    steps = ""
    position = 0
    for pause_ms, digits in dtmf:
        steps += _PAUSE.format(ms=pause_ms)
        for digit in digits:
            if digit == "~":
                steps += _PLAY.format(file=SPEECH_PCAP, ms=SPEECH_MS)
                continue
            steps += _PLAY.format(file=dtmf_file(position, digit), ms=KEY_GAP_MS)
            position += 1
        steps += _TYPED.format(digits=digits)
    return steps


def info_steps(dtmf: Keys) -> str:
    """Key presses sent as SIP INFO (application/dtmf-relay), as many desk phones do: what a phone
    that answered types (SIPp replays RFC 4733 packets only for calls it placed). Their CSeqs count
    from 11, below the 99 of the phone's BYE."""
    steps = ""
    cseq = 10
    for pause_ms, digits in dtmf:
        steps += _PAUSE.format(ms=pause_ms)
        for digit in digits:
            cseq += 1
            steps += "\n" + template("info_key.xml").rstrip("\n").format(cseq=cseq, digit=digit)
        steps += _TYPED.format(digits=digits)
    return steps


def caller_scenario(
    caller: str,
    dialed: str,
    *,
    talk_ms: int | None = 1000,
    cancel_after_ms: int | None = None,
    wait_for_bye_ms: int = 60_000,
    dtmf: Keys = (),
) -> str:
    """A phone that dials: hangs up after `talk_ms` of talk, or waits for the far end's BYE
    (talk_ms=None), or abandons (CANCEL) `cancel_after_ms` after it first hears ringing.
    Once answered it types `dtmf`: (pause ms, digits) groups, sent as RFC 4733 events."""
    parties = {"caller": caller, "dialed": dialed}
    finals = "\n".join(template("caller_final.xml").rstrip("\n").format(code=code) for code in FINAL_CODES)
    if talk_ms is not None:
        talk = template("caller_hangup.xml").format(talk_ms=talk_ms, **parties)
    else:
        talk = template("caller_wait_bye.xml").format(wait_for_bye_ms=wait_for_bye_ms)
    after_ring = ""
    if cancel_after_ms is not None:
        after_ring = template("caller_cancel.xml").format(cancel_after_ms=cancel_after_ms, **parties)
    return template("caller.xml").format(
        sdp=template("sdp.txt"),
        ringing_next=' next="ringing"' if cancel_after_ms is not None else ' next="wait"',
        finals=finals,
        keys=typing_steps(dtmf),
        talk=talk,
        after_ring=after_ring,
        **parties,
    )


def callee_scenario(
    behaviour: str,
    *,
    answer_after_ms: int = 0,
    talk_ms: int | None = None,
    ring_timeout_ms: int = 120_000,
    dtmf: Keys = (),
    dtmf_mode: str = "rfc4733",
) -> str:
    """A phone that receives: `answer` (after `answer_after_ms` of ringing, then types `dtmf`
    and hangs up after `talk_ms` or waits for BYE), `no_answer` (rings until cancelled),
    `busy` (486), `decline` (603). Keys go out as RFC 4733 events in the RTP stream, as desk
    phones send them by default, or as SIP INFO (`dtmf_mode="info"`), as some phones do."""
    if behaviour in REFUSALS:
        code, reason = REFUSALS[behaviour]
        return template("callee_refuse.xml").format(behaviour=behaviour, code=code, reason=reason)
    if behaviour == "no_answer":
        wait_ms, on_timeout = ring_timeout_ms, "end"
    elif behaviour == "answer":
        wait_ms, on_timeout = max(answer_after_ms, 1), "answer"
    else:
        raise ValueError(f"unknown phone behaviour {behaviour!r}")
    if talk_ms is None:
        after_answer = template("callee_wait_bye.xml")
    else:
        after_answer = template("callee_hangup.xml").format(talk_ms=talk_ms)
    sends_in_dialog = talk_ms is not None or (dtmf and dtmf_mode == "info")
    return template("callee.xml").format(
        behaviour=behaviour,
        dialog_vars=_DIALOG_VARS if sends_in_dialog else "",
        ack_vars=_ACK_VARS if sends_in_dialog else "",
        wait_ms=wait_ms,
        on_timeout=on_timeout,
        sdp=template("sdp.txt"),
        keys=info_steps(dtmf) if dtmf_mode == "info" else typing_steps(dtmf),
        after_answer=after_answer,
    )
