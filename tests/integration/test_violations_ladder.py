"""LOG-5 through the lab: real refused calls from one desk phone walk the ladder (verbal
warning, written warning, fine), the person appeals one, an administrator overturns it with a
reason, and the next violation's step is computed without it. Everything is read back through
the `callguard violations` commands, as an administrator would."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from callguard.lab import Lab
from tests.integration.harness import Harness, now

pytestmark = pytest.mark.lab

# 孙慧 (2002) is an assistant: local calls only. An international number is refused at once
# by OUT-2 (the lab's pin_classes leave international out): one violation per call.
LINE, PERSON, INTERNATIONAL = "2002", "sun.hui", "0001212555010"


def cli(lab: Lab, *argv: str) -> subprocess.CompletedProcess[str]:
    assert lab.state is not None
    return subprocess.run(
        [sys.executable, "-m", "callguard", "violations", *argv, "--db", lab.state.database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def ledger(lab: Lab) -> list[dict[str, Any]]:
    done = cli(lab, "list", "--person", PERSON, "--json")
    assert done.returncode == 0, done.stderr
    return list(reversed(json.loads(done.stdout)))  # oldest first


async def refused_call(harness: Harness) -> dict[str, Any]:
    """One above-class call from the line; its violation as `violations list` shows it."""
    t0 = now()
    caller = await harness.dial(LINE, INTERNATIONAL)
    assert await caller.wait() == 0 and caller.final_code() == 403
    rec = await harness.wait_record(t0, INTERNATIONAL)
    assert rec["disposition"] == "above_class"
    [violation] = [v for v in ledger(harness.lab) if v["call_id"] == rec["call_id"]]
    # Money in the ledger is exact: a decimal string in JSON, never a float.
    assert (violation["rule"], violation["person"], violation["fine_yuan"]) == ("OUT-2", PERSON, "500.00")
    return violation


def clean_slate(lab: Lab) -> None:
    """Earlier tests of the suite may have left 孙慧 violations within the window: an
    administrator overturns them, so that this test starts from the bottom of the ladder."""
    for v in ledger(lab):
        if v["step"] is not None and v["status"] in ("open", "appealed"):
            done = cli(lab, "decide", str(v["id"]), "--overturn", "--reason", "ladder test", "--by", "test")
            assert done.returncode == 0, done.stderr


async def test_three_violations_walk_the_ladder_then_an_overturn_lowers_the_next_step(
    harness: Harness, lab: Lab
) -> None:
    clean_slate(lab)
    walked = [await refused_call(harness) for _ in range(3)]
    assert [v["step"] for v in walked] == ["verbal_warning", "written_warning", "fine"]
    assert all(v["status"] == "open" and v["appeal_by"] for v in walked)

    # The person appeals the written warning; the text listing shows the step and status.
    second = walked[1]["id"]
    done = cli(lab, "appeal", str(second), "--reason", "I dialled for my manager, who asked me to")
    assert done.returncode == 0, done.stderr
    assert f"violation {second} (OUT-2, {PERSON}, written_warning): appealed" in done.stdout
    assert json.loads(done.stderr)["event"] == "violation.appealed"  # the action's log line
    listing = cli(lab, "list", "--person", PERSON).stdout
    assert any(
        f"{second} " in line and "written_warning" in line and "appealed" in line
        for line in listing.splitlines()
    )

    done = cli(
        lab, "decide", str(second), "--overturn", "--reason", "the manager confirmed", "--by", "hr.zhang"
    )
    assert done.returncode == 0, done.stderr
    logged = json.loads(done.stderr)
    assert (logged["event"], logged["decision"], logged["by"]) == (
        "violation.decided",
        "overturned",
        "hr.zhang",
    )

    # A second appeal of a decided violation is refused with one clear line.
    again = cli(lab, "appeal", str(second), "--reason", "once more")
    assert again.returncode == 1
    refusal = (
        f"violation {second} cannot be appealed: it is overturned, not open: a violation is appealed once"
    )
    assert again.stderr.strip() == f"callguard: {refusal}"

    # The fourth violation counts the first and the third only: a fine, not a referral.
    fourth = await refused_call(harness)
    assert fourth["step"] == "fine"
    steps = {v["id"]: (v["step"], v["status"]) for v in ledger(lab)}
    assert steps[second] == ("written_warning", "overturned")  # the step given is kept

    shown = cli(lab, "show", str(second), "--json")
    events = json.loads(shown.stdout)["events"]
    assert [(e["action"], e["by"]) for e in events] == [
        ("step_assigned", "callguard"),
        ("appealed", PERSON),
        ("overturned", "hr.zhang"),
    ]
    assert events[2]["reason"] == "the manager confirmed"
    counted = json.loads(cli(lab, "show", str(fourth["id"]), "--json").stdout)["events"][0]["detail"][
        "counted"
    ]
    assert counted == [walked[0]["id"], walked[2]["id"]]
