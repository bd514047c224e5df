"""LOG-2 through the lab: one callguard per journal, and the files with caller data are private."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from callguard.lab import Lab
from callguard.store import JournalInUse
from tests.integration.harness import Harness


def test_a_second_callguard_with_the_same_config_is_refused(lab: Lab, harness: Harness) -> None:
    assert lab.state is not None
    pid = lab.state.pids["callguard"]
    second = subprocess.run(
        [sys.executable, "-m", "callguard", "run", "--config", lab.state.config_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    journal = Path(lab.state.state_dir) / "journal.jsonl"
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == (
        f"callguard: journal {journal} is in use by another callguard process (pid {pid})"
    )
    assert JournalInUse.__name__ not in second.stderr  # one clear line, no traceback
    # The first one is untouched: still connected to Asterisk.
    assert lab.ari_get("/applications/callguard") is not None
    # Its files hold caller data: owner only (SEC-2).
    for path in (
        Path(lab.state.callguard_log),
        Path(lab.state.state_dir) / "calls.db",
        journal.with_suffix(".jsonl.lock"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
