"""The lab's SIPp scenarios, filled in from the templates in callguard/lab/sipp/ (issue 9): the same
bytes as the f-string builders they replace (tests/unit/sipp_golden/ was written by those), well-formed
XML, and no placeholder left unfilled."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from callguard.lab.phones import callee_scenario, caller_scenario
from callguard.lab.scenarios import TEMPLATES

GOLDEN = Path(__file__).parent / "sipp_golden"

CASES = {
    "caller_keys_hangup.xml": lambda: caller_scenario(
        "1003", "0085212345678", talk_ms=4000, dtmf=((500, "246813#"), (0, "~"), (300, "42#"))
    ),
    "caller_cancel.xml": lambda: caller_scenario(
        "1001", "1002", talk_ms=None, cancel_after_ms=2500, wait_for_bye_ms=5000
    ),
    "callee_answer_info_keys.xml": lambda: callee_scenario(
        "answer", answer_after_ms=2000, talk_ms=1500, dtmf=((800, "*2"), (200, "1002#")), dtmf_mode="info"
    ),
    "callee_no_answer.xml": lambda: callee_scenario("no_answer", ring_timeout_ms=3000),
    "callee_busy.xml": lambda: callee_scenario("busy"),
}
KEYS = [(), ((500, "246813#"),), ((0, "~"), (300, "*2"), (200, "1002#"))]


@pytest.mark.parametrize("name", sorted(CASES))
def test_scenario_is_byte_identical_to_the_f_string_builders(name: str) -> None:
    assert CASES[name]() == (GOLDEN / name).read_text(encoding="utf-8")


def _every_scenario() -> list[str]:
    callers = [
        caller_scenario("1001", "2003", talk_ms=talk, cancel_after_ms=cancel, dtmf=keys)
        for talk, cancel, keys in itertools.product([None, 0, 1000], [None, 2500], KEYS)
    ]
    callees = [
        callee_scenario(behaviour, answer_after_ms=500, talk_ms=talk, dtmf=keys, dtmf_mode=mode)
        for behaviour, talk, keys, mode in itertools.product(
            ["answer", "no_answer", "busy", "decline"], [None, 1500], KEYS, ["rfc4733", "info"]
        )
    ]
    return callers + callees


def test_every_scenario_is_xml_with_every_placeholder_filled() -> None:
    for xml in _every_scenario():
        ET.fromstring(xml.encode("iso-8859-1"))
        # SIPp's own keywords are [name] and [$var]; a {name} left over is a template not filled in.
        assert not re.search(r"\{[a-z_]+\}", xml), xml


def test_a_phone_that_dials_logs_what_its_user_experienced() -> None:
    xml = caller_scenario("1001", "1002", talk_ms=None, cancel_after_ms=2500, dtmf=((0, "42#"),))
    root = ET.fromstring(xml.encode("iso-8859-1"))
    logged = [e.get("message") for e in root.iter("log")]
    assert {"[clock_tick] RINGING", "[clock_tick] ANSWERED", "[clock_tick] TYPED 42#"} <= set(logged)
    assert "[clock_tick] FINAL 486" in logged and "[clock_tick] BYE_RECEIVED" in logged
    # Abandoning: ringing jumps to the CANCEL branch, 2.5 s after the first 180.
    ringing = next(e for e in root.iter("recv") if e.get("response") == "180")
    assert ringing.get("next") == "ringing"
    assert any(e.get("milliseconds") == "2500" for e in root.iter("pause"))


def test_an_unknown_phone_behaviour_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phone behaviour 'ring_twice'"):
        callee_scenario("ring_twice")


def test_every_template_is_used() -> None:
    import callguard.lab.scenarios as scenarios

    source = Path(scenarios.__file__).read_text(encoding="utf-8")
    files = {p.name for p in TEMPLATES.iterdir() if p.suffix in (".xml", ".txt")}
    assert files and all(f'"{name}"' in source for name in files)
