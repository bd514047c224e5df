"""XFER-2 in the pure core: which targets a call can be handed to, which phones count as busy,
and how the target rings (the answering policy's hop arithmetic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callguard.config import AnsweringSettings, load_config
from callguard.policy import AnsweringPolicy, Directory, Hop
from callguard.policy.decisions import TransferPlan, TransferRefusal
from callguard.policy.transfer import BUSY_STATES, check_target, is_busy, is_idle

PROJECT = Path(__file__).resolve().parents[2]
CONFIG = load_config(
    PROJECT / "config" / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
)
ANSWERING = AnsweringPolicy(
    Directory(CONFIG.directory), AnsweringSettings(ring_cadence_s=0.5, offline_after_s=2.0)
)


@pytest.mark.parametrize(
    ("target", "by", "kept", "state", "expected"),
    [
        ("2003", "2001", "01088886666", "NOT_INUSE", None),
        ("2003", "2001", "01088886666", None, None),  # AMI never said: try it
        ("2003", "2001", "01088886666", "UNKNOWN", None),
        ("2003", "2001", "01088886666", "RINGING", None),
        ("7777", "2001", "01088886666", "NOT_INUSE", ("unknown_extension", "unknown_number", True)),
        ("2001", "2001", "01088886666", "NOT_INUSE", ("unknown_extension", "unknown_number", True)),
        ("1003", "2001", "1003", "NOT_INUSE", ("unknown_extension", "unknown_number", True)),
        ("", "2001", "01088886666", None, ("unknown_extension", "unknown_number", True)),
        ("2003", "2001", "01088886666", "INUSE", ("unavailable", "target_busy", False)),
        ("2003", "2001", "01088886666", "BUSY", ("unavailable", "target_busy", False)),
        ("2003", "2001", "01088886666", "RINGINUSE", ("unavailable", "target_busy", False)),
        ("2003", "2001", "01088886666", "ONHOLD", ("unavailable", "target_busy", False)),
        ("2003", "2001", "01088886666", "UNAVAILABLE", ("unavailable", "target_busy", False)),
        ("2003", "2001", "01088886666", "INVALID", ("unavailable", "target_busy", False)),
    ],
)
def test_transfer_target_check(
    target: str, by: str, kept: str, state: str | None, expected: tuple[str, str, bool] | None
) -> None:
    outcome = check_target(ANSWERING, target, by, kept, state)
    if expected is None:
        assert isinstance(outcome, TransferPlan) and outcome.target == target
        return
    assert isinstance(outcome, TransferRefusal)
    assert (outcome.result, outcome.prompt, outcome.to_holder) == expected
    assert outcome.state == (state if outcome.result == "unavailable" else None)


def test_the_target_rings_its_own_ans1_rings_as_a_hop_of_its_own() -> None:
    plan = check_target(ANSWERING, "2003", "2001", "01088886666", "NOT_INUSE")
    assert isinstance(plan, TransferPlan)
    hop = plan.hop
    assert hop == Hop(("2003",), 3, 1.5, True, "transfer", "minor", 2.0, ANSWERING.settings.apology, "XFER-2")
    assert hop.as_dict() == {
        "targets": ["2003"],
        "rings": 3,
        "limit_s": 1.5,
        "cancel_at_limit": True,
        "reason": "transfer",
    }


def test_busy_and_idle_states() -> None:
    assert {"INUSE", "BUSY", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"} == BUSY_STATES
    assert all(is_busy(state) for state in BUSY_STATES)
    assert not any(is_busy(state) for state in ("NOT_INUSE", "RINGING", "UNKNOWN", None))
    assert is_idle("NOT_INUSE")
    assert not any(is_idle(state) for state in ("INUSE", "RINGING", "UNKNOWN", None))
