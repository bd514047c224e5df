"""The demo's calls and the lab settings they need: who dials whom, how each phone behaves, and
what each call must end as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callguard.lab.settings import LAB_PINS

DEMO_NO_ANSWER_TIMEOUT_S = 6
# OUT-4 for local calls, shortened so that the demo shows the warning within seconds.
DEMO_LOCAL_LIMIT_S = 10
DEMO_WARN_BEFORE_S = 4
CARRIER = "carrier"  # the dialled "phone" is the PSTN carrier behind the trunk
DIRECTOR_PIN = LAB_PINS["wang.li"]  # the lab sets it; nothing shipped contains a PIN


@dataclass(frozen=True)
class DemoCall:
    title: str
    caller: str
    dialed: str
    phone: str | None  # behaviour of the dialled phone, None if nobody should ring
    phone_kw: dict[str, Any]
    caller_kw: dict[str, Any]
    outside: bool = False  # the caller is outside, on the PSTN trunk
    others: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # more phones: (ext, behaviour, kw)


# The demo lab rings at 1 s a ring (China's is 5 s: ANS-1's three rings are 15 s) and its
# office is always open, so that the rollover, assistant and message calls show in seconds
# whenever it runs.
DEMO_RING_CADENCE_S = 1.0
DEMO_ANSWERING = f"""[answering]
ring_cadence_s = {DEMO_RING_CADENCE_S}
offline_after_s = 2.0

[answering.office_hours]
days = [1, 2, 3, 4, 5, 6, 7]
start = "00:00"
end = "24:00"
"""
# LOG-4: admin's monthly budget is set so small that the demo's one priced admin call (the
# national call 王丽 authorises, 0.07 元 a 6 s block) crosses 80 %: the demo ends with that alert.
DEMO_BUDGETS = """[budgets]
refresh_s = 0.5

[[budgets.department]]
name = "admin"
amount = "0.08"
action = "alert"
"""
BLOCKED_CALLER = "13800138000"
DEMO_INBOUND = "[inbound]\nblocklist_refresh_s = 1.0\n"


CALLS = (
    DemoCall(
        "answered after two seconds, 3 s of talk",
        "1001",
        "1002",
        "answer",
        {"answer_after_ms": 2000},
        {"talk_ms": 3000},
    ),
    DemoCall(
        f"nobody answers ({DEMO_NO_ANSWER_TIMEOUT_S} s no-answer timeout)",
        "2001",
        "2002",
        "no_answer",
        {},
        {},
    ),
    DemoCall("the callee is busy", "1003", "2003", "busy", {}, {}),
    DemoCall("the callee declines", "2004", "1003", "decline", {}, {}),
    DemoCall(
        "the caller hangs up while it rings", "2003", "8001", "no_answer", {}, {"cancel_after_ms": 2500}
    ),
    DemoCall("an extension that does not exist", "1002", "4321", None, {}, {}),
    DemoCall(
        "0 for an outside line, then a 168 premium-rate number (OUT-1)",
        "2003",
        "016812345678",
        CARRIER,
        {},
        {},
    ),
    DemoCall(
        "a long-distance number; 陈杰 may not, and types a wrong code three times (OUT-2, OUT-3)",
        "1003",
        "001012345678",
        CARRIER,
        {},
        {"talk_ms": None, "dtmf": ((1000, "111111#"), (2000, "111222#"), (2000, "111333#"))},
    ),
    DemoCall(
        f"the same call with 王丽's authorization code {DIRECTOR_PIN}# (set by `lab up`) "
        "and matter code 42# (OUT-3)",
        "1003",
        "001012345678",
        CARRIER,
        {},
        {"talk_ms": 2000, "dtmf": ((1000, f"{DIRECTOR_PIN}#"), (1000, "42#"))},
    ),
    DemoCall(
        f"a local call that runs past the demo's {DEMO_LOCAL_LIMIT_S} s limit (OUT-4)",
        "2004",
        "062345678",
        CARRIER,
        {},
        {"talk_ms": (DEMO_LOCAL_LIMIT_S + 2) * 1000},
    ),
    DemoCall(
        "a customer calls 陈杰; he does not answer in three rings, the front desk does (ANS-1, ANS-3, ANS-4)",
        "01088886666",
        "1003",
        "no_answer",
        {},
        {"talk_ms": 2000},
        outside=True,
        others=(("8000", "answer", {"answer_after_ms": 1500}),),
    ),
    DemoCall(
        "a customer calls the sales manager 刘洋; his assistant 孙慧 answers (XFER-1)",
        "02166667777",
        "2001",
        None,
        {},
        {"talk_ms": 2000},
        outside=True,
        others=(("2002", "answer", {"answer_after_ms": 1000}),),
    ),
    DemoCall(
        "a customer calls 陈杰; nobody in admin answers, so she leaves a message (XFER-3)",
        "13512345678",
        "1003",
        "no_answer",
        {},
        {"talk_ms": None, "dtmf": ((9000, "~~#"),)},  # speaks after the tone, then presses #
        outside=True,
        others=(("8000", "no_answer", {}), ("8001", "no_answer", {})),
    ),
    DemoCall(
        f"{BLOCKED_CALLER}, on the blocklist for harassing calls, calls 陈杰 (SEC-1)",
        BLOCKED_CALLER,
        "1003",
        None,
        {},
        {},
        outside=True,
    ),
)
# What each call of CALLS ends as, in order: the demo fails (exit 1) on anything else.
EXPECTED = [
    "answered",
    "no_answer",
    "busy",
    "declined",
    "abandoned",
    "unknown_extension",
    "premium_number",
    "pin_refused",
    "answered",
    "answered",
    "answered",
    "answered",
    "message",
    "blocked_caller",
]
