"""Bills, compliance figures, export and backup through the lab (POLICY LOG-2, LOG-4, LOG-6):
real calls between SIPp phones and the carrier, then the commands an administrator types
(`python -m callguard ... --db <the lab's database>`), read back."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from callguard.store import list_calls, make_engine, migrate
from callguard.store.archive import read_calls
from tests.integration.harness import Harness, now

pytestmark = pytest.mark.lab


def _cli_bytes(harness: Harness, *args: str, config: bool = False) -> bytes:
    """--db: names and departments as the records carry them; --config: the directory's."""
    where = ["--config", harness.state.config_path] if config else ["--db", harness.state.database_url]
    done = subprocess.run(
        [sys.executable, "-m", "callguard", *args, *where],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _cli(harness: Harness, *args: str) -> str:
    return _cli_bytes(harness, *args).decode("utf-8")


def _month() -> str:
    return datetime.now().astimezone().strftime("%Y-%m")


def _report(harness: Harness) -> dict[str, dict[str, Any]]:
    """`report --json` keyed: "person:<key>" / "department:<key>" -> figures."""
    data = json.loads(_cli_bytes(harness, "report", "--month", _month(), "--json", config=True))
    out = {f"person:{p['key']}": p for p in data["people"]}
    out.update({f"department:{d['key']}": d for d in data["departments"]})
    return out


def _answering(report: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    return report[key]["answering"] if key in report else {}


def _delta(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], key: str, figure: str) -> int:
    return int(_answering(after, key).get(figure, 0)) - int(_answering(before, key).get(figure, 0))


async def _place_calls(harness: Harness) -> list[dict[str, Any]]:
    """Answered, rolled over, abandoned and an outside call; their final records."""
    t0 = now()
    # 1001 -> 1002, answered at the first ring.
    callee = await harness.phone("1002", "answer", answer_after_ms=100)
    caller = await harness.dial("1001", "1002", talk_ms=1000)
    assert await caller.wait() == 0 and await callee.wait() == 0
    answered = await harness.wait_record(t0, "1002")
    # A customer calls 1003, who lets it ring its 3 rings; the front desk (admin's hunt group) answers.
    silent = await harness.phone("1003", "no_answer")
    desk = await harness.phone("8000", "answer", answer_after_ms=200)
    caller = await harness.outside_call("01088886666", "1003", talk_ms=800)
    assert await caller.wait(timeout=30) == 0 and await silent.wait() == 0 and await desk.wait() == 0
    rolled = await harness.wait_record(t0, "1003")
    # 2004 calls 2003 and hangs up after one ring (before 2003's limit): abandoned.
    ringing = await harness.phone("2003", "no_answer")
    caller = await harness.dial("2004", "2003", cancel_after_ms=500)
    assert await caller.wait() == 0 and await ringing.wait() == 0
    abandoned = await harness.wait_record(t0, "2003")
    # 王丽 (director) calls a local number; the carrier answers.
    carrier = await harness.carrier()
    caller = await harness.dial("1001", "062345678", talk_ms=1500)
    assert await caller.wait() == 0
    outside = await harness.wait_record(t0, "062345678")
    await carrier.stop()
    assert (
        answered["disposition"],
        rolled["disposition"],
        abandoned["disposition"],
        outside["disposition"],
    ) == (
        "answered",
        "answered",
        "abandoned",
        "answered",
    )
    await harness.wait_clean()
    return [answered, rolled, abandoned, outside]


async def test_report_bill_export_and_backup_read_back(harness: Harness, tmp_path: Path) -> None:
    before = _report(harness)
    answered, rolled, abandoned, outside = await _place_calls(harness)
    after = _report(harness)

    # LOG-6: each phone that rang is an offer to its person; the call is offered to the department dialled.
    assert _delta(before, after, "person:zhao.min", "offered") == 1
    assert _delta(before, after, "person:zhao.min", "answered_in_limit") == 1
    assert _delta(before, after, "person:chen.jie", "offered") == 1
    assert after["person:chen.jie"]["department"] == "admin"  # from the directory (--config)
    assert _delta(before, after, "person:chen.jie", "unanswered") == 1  # rang its limit out (ANS-1)
    assert _delta(before, after, "person:8000", "answered_in_limit") == 1
    assert _delta(before, after, "person:zhou.qiang", "abandoned") == 1
    assert _delta(before, after, "department:admin", "offered") == 2
    assert (
        _delta(before, after, "department:admin", "answered_in_limit") == 2
    )  # the desk within its own limit
    assert _delta(before, after, "department:sales", "abandoned") == 1
    ans1 = after["person:chen.jie"]["violations"]["ANS-1"]
    assert (
        sum(ans1.values())
        - sum(before.get("person:chen.jie", {}).get("violations", {}).get("ANS-1", {}).values())
        == 1
    )
    outside_before = before.get("person:wang.li", {}).get("outside_calls", 0)
    assert after["person:wang.li"]["outside_calls"] - outside_before == 1

    # LOG-4: the bill (CSV, as Excel opens it) has the outside call at its recorded cost.
    raw = _cli_bytes(harness, "bill", "--month", _month(), "--format", "csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header = rows[0]
    wang = next(r for r in rows[1:] if len(r) > 5 and r[2] == "1001" and r[5] == "all")
    assert wang[header.index("name")] == "王丽 Wang Li" and int(wang[header.index("calls")]) >= 1
    records = [r for r in await harness.records() if r["direction"] == "outbound" and r["answered_at"]]
    mine = [
        r
        for r in records
        if r["caller"]["number"] == "1001" and r["started_at"][:7] == outside["started_at"][:7]
    ]
    assert int(wang[header.index("calls")]) == len(mine)
    costs = sum((Decimal(r["cost"]) for r in mine if r["cost"] is not None), Decimal(0))
    assert Decimal(wang[header.index("cost_yuan")]) == costs.quantize(Decimal("0.01"))

    # LOG-2: the export has every field of each call, as `calls list --json` shows it.
    exported = {
        c["call_id"]: c for c in map(json.loads, _cli(harness, "export", "--month", _month()).splitlines())
    }
    for rec in (answered, rolled, abandoned, outside):
        row = exported[rec["call_id"]]
        assert row["disposition"] == rec["disposition"] and row["caller_name"] == rec["caller"]["name"]
        assert [leg["number"] for leg in row["legs"]] == [leg["number"] for leg in rec["legs"]]
        assert row["cost"] == rec["cost"] and row["handled_by"] == rec["handled_by"]
    assert [v["rule"] for v in exported[rolled["call_id"]]["violations"]] == ["ANS-1"]
    export_csv = _cli_bytes(harness, "export", "--month", _month(), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(export_csv.decode("utf-8-sig"))))
    assert {r["call_id"] for r in table} == set(exported)
    assert (
        json.loads(next(r for r in table if r["call_id"] == rolled["call_id"])["legs"])
        == exported[rolled["call_id"]]["legs"]
    )

    # LOG-2: an online backup while callguard runs, restored by opening the copy: every record.
    backup = tmp_path / "backup.db"
    assert "backup of" in _cli(harness, "db", "backup", str(backup))
    restored_file = tmp_path / "restored" / "calls.db"
    restored_file.parent.mkdir()
    restored_file.write_bytes(backup.read_bytes())
    original = make_engine(harness.state.database_url)
    restored = make_engine(f"sqlite+aiosqlite:///{restored_file}")
    try:
        await migrate(restored)
        until = datetime(2100, 1, 1, tzinfo=UTC)
        wanted = await read_calls(original, datetime(2000, 1, 1, tzinfo=UTC), now())
        found = {
            (c["node"], c["call_id"]): c
            for c in await read_calls(restored, datetime(2000, 1, 1, tzinfo=UTC), until)
        }
        for call in wanted:
            copy = found[(call["node"], call["call_id"])]
            assert copy["legs"] == call["legs"] and copy["violations"] == call["violations"]
            assert copy == call
        assert {r["call_id"] for r in await list_calls(restored, limit=100_000)} >= {
            r["call_id"] for r in (answered, rolled, abandoned, outside)
        }
    finally:
        await original.dispose()
        await restored.dispose()
