"""LOG-4 through the lab: outside calls priced from the shipped example tariff (and a band),
`rerate`, budgets alerting at 80 %, blocking at 100 % (emergency calls still go, the block
survives a restart) and downgrading; the new tables on PostgreSQL.

The lab's carrier (SIPp) answers behind the trunk, so the tests see which calls really left;
an ARI witness sees the prompts Asterisk played; MQTT carries the budget alerts."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from callguard.config import load_config
from callguard.lab import Lab
from callguard.lab.lab import LAB_BUDGETS
from callguard.policy.budgets import Budget, month_of
from callguard.policy.tariffs import TariffTable, rate_call
from callguard.store import list_calls, make_engine, migrate, write_records
from callguard.store.budgets import record_alert, set_budget, stored_budgets
from callguard.store.costs import month_spend, rerate
from tests.integration.conftest import EXTRA_TEST_CONFIG, outbound_test_config
from tests.integration.harness import AriWatch, Harness, MqttWatch, now
from tests.integration.test_postgres import PgServer, postgres  # noqa: F401 - the fixture
from tests.records import answered_record

pytestmark = pytest.mark.lab

LOCAL = "062345678"  # 0 for an outside line + a local number


def _cg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callguard", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _lab_tariffs(lab: Lab) -> TariffTable:
    assert lab.state is not None
    return TariffTable(load_config(lab.state.config_path).tariffs)


def _expected(lab: Lab, rec: dict[str, Any]) -> tuple[Decimal | None, str | None]:
    """The price computed again from the record's own answer and end times."""
    return rate_call(
        _lab_tariffs(lab),
        rec["callee"]["number"],
        rec["number_class"],
        datetime.fromisoformat(rec["answered_at"]),
        datetime.fromisoformat(rec["ended_at"]),
    )


async def _call(harness: Harness, line: str, dialed: str, talk_ms: int | None = 1000) -> dict[str, Any]:
    t0 = now()
    caller = await harness.dial(line, dialed, talk_ms=talk_ms)
    assert await caller.wait() == 0
    return await harness.wait_record(t0, dialed)


def _alerts(mqtt: MqttWatch, budget: str) -> list[int]:
    return [
        int(data["threshold_pct"])
        for topic, data in mqtt.messages
        if topic.endswith("/alert/budget_threshold") and data.get("budget") == budget
    ]


async def _wait_alerts(mqtt: MqttWatch, budget: str, want: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _alerts(mqtt, budget) != want and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _alerts(mqtt, budget) == want


def _with_budgets(lab: Lab, budgets: str, extra: str = EXTRA_TEST_CONFIG) -> None:
    lab.budgets_config = budgets
    lab.reconfigure(outbound_test_config(), extra)
    lab.wait_controller_connected()


def _restore(lab: Lab) -> None:
    _with_budgets(lab, LAB_BUDGETS)


async def test_an_answered_local_call_is_priced_and_listed(harness: Harness, lab: Lab) -> None:
    """LOG-4: 4 s to a local number is 0.22 元 (the first 3 minutes), tariff cn-local, exactly
    what the tariff gives for the record's answer and end times; `calls list` shows it."""
    carrier = await harness.carrier()
    rec = await _call(harness, "2003", LOCAL, talk_ms=4000)
    assert rec["disposition"] == "answered" and 4.0 <= rec["talk_s"] < 6.0
    assert (rec["cost"], rec["tariff"]) == ("0.2200", "cn-local")
    cost, tariff = _expected(lab, rec)
    assert (Decimal(rec["cost"]), rec["tariff"]) == (cost, tariff)
    await carrier.stop()
    assert carrier.dialed() == ["62345678"]
    assert lab.state is not None
    listed = _cg("calls", "list", "--db", lab.state.database_url, "--json")
    [row] = [r for r in json.loads(listed.stdout) if r["call_id"] == rec["call_id"]]
    assert (row["cost"], row["tariff"]) == ("0.2200", "cn-local")
    text = _cg("calls", "list", "--db", lab.state.database_url).stdout
    assert any(rec["call_id"] in line and "0.22 元" in line for line in text.splitlines())
    # Not answered: dialled out, costs nothing; refused: never dialled out, no cost at all.
    busy = await harness.carrier("busy")
    unanswered = await _call(harness, "2003", "062345679", talk_ms=None)
    assert (unanswered["cost"], unanswered["tariff"]) == ("0.0000", None)
    await busy.stop()
    refused = await _call(harness, "2003", "016812345678", talk_ms=None)
    assert refused["disposition"] == "premium_number" and refused["cost"] is None
    await harness.wait_clean()


async def test_a_time_of_day_band_prices_by_increments_and_rerate_corrects_a_month(
    harness: Harness, lab: Lab
) -> None:
    """LOG-4: a band covering now (local time) with 1 s increments prices the call per second
    talked; `rerate` after the band is removed prices the month with the tariffs now in force."""
    hour = datetime.now().hour
    band = f"""
[[tariffs]]
id = "lab-band"
prefixes = ["6234"]   # longer than any class entry: this one wins for 6234....
initial_s = 1
initial_price = "0.05"
increment_s = 1
increment_price = "0.03"

[[tariffs.bands]]
name = "now"
start = "{(hour - 1) % 24:02d}:00"
end = "{(hour + 2) % 24:02d}:00"
initial_price = "0.50"
increment_price = "0.10"
"""
    _with_budgets(lab, LAB_BUDGETS, EXTRA_TEST_CONFIG + band)
    try:
        await harness.carrier()
        rec = await _call(harness, "2003", LOCAL, talk_ms=2500)
    finally:
        _restore(lab)
    talked = datetime.fromisoformat(rec["ended_at"]) - datetime.fromisoformat(rec["answered_at"])
    seconds = math.ceil(talked / timedelta(microseconds=1) / 1_000_000)  # every started second
    assert seconds >= 3
    by_hand = Decimal("0.50") + (seconds - 1) * Decimal("0.10")
    assert rec["tariff"] == "lab-band/now" and Decimal(rec["cost"]) == by_hand
    assert lab.state is not None
    month = month_of(datetime.now(UTC))
    before = await _records_total(lab, month)
    done = _cg("rerate", "--month", month, "--config", lab.state.config_path)
    assert done.returncode == 0, done.stderr
    assert f"{month}: " in done.stdout and "re-priced" in done.stdout
    assert f"total {before.quantize(Decimal('0.01'))} 元 before" in done.stdout
    [after] = [
        r
        for r in await harness.records(datetime.fromisoformat(rec["started_at"]))
        if r["call_id"] == rec["call_id"]
    ]
    assert (after["cost"], after["tariff"]) == ("0.2200", "cn-local")
    assert f"{(await _records_total(lab, month)).quantize(Decimal('0.01'))} 元 after" in done.stdout
    await harness.wait_clean()


async def _records_total(lab: Lab, month: str) -> Decimal:
    assert lab.state is not None
    engine = make_engine(lab.state.database_url)
    try:
        calls = await list_calls(engine, limit=100_000)
    finally:
        await engine.dispose()
    return sum(
        (
            Decimal(c["cost"])
            for c in calls
            if c["cost"] and c["answered_at"] and month_of(datetime.fromisoformat(c["started_at"])) == month
        ),
        Decimal(0),
    )


BLOCK_BUDGET = """[budgets]
refresh_s = 0.5
thresholds_pct = [80, 100]

[[budgets.person]]
name = "zhou.qiang"
amount = "0.27"
action = "block"
"""


async def test_budget_alerts_at_80_then_blocks_at_100_but_not_emergency_even_after_a_restart(
    harness: Harness, lab: Lab, mqtt: MqttWatch, ari_watch: AriWatch
) -> None:
    """LOG-4: 周强's budget of 0.27 元: one local call (0.22) crosses 80 % (one alert); the next
    still goes (0.22 < 0.27) and crosses 100 %; the one after is refused with budget_exhausted
    and never reaches the carrier, before and after callguard restarts; 0110 still goes (OUT-6);
    each alert comes once."""
    _with_budgets(lab, BLOCK_BUDGET)
    try:
        carrier = await harness.carrier()
        first = await _call(harness, "2003", LOCAL)
        assert first["budget"] == "person:zhou.qiang" and first["cost"] == "0.2200"
        await _wait_alerts(mqtt, "person:zhou.qiang", [80])
        second = await _call(harness, "2003", LOCAL)
        assert second["disposition"] == "answered" and second["budget"] == "person:zhou.qiang"
        await _wait_alerts(mqtt, "person:zhou.qiang", [80, 100])
        [alert] = [
            d for t, d in mqtt.messages if t.endswith("/budget_threshold") and d["threshold_pct"] == 100
        ]
        assert (alert["spend"], alert["amount"], alert["rule"]) == ("0.44", "0.27", "LOG-4")
        for attempt in ("before restart", "after restart"):
            t0 = now()
            caller = await harness.dial("2003", LOCAL)
            assert await caller.wait() == 0, attempt
            assert caller.final_code() == 403 and not caller.saw("ANSWERED"), attempt
            rec = await harness.wait_record(t0, LOCAL, disposition="budget_exhausted")
            assert rec["decisions"][0]["rule"] == "LOG-4" and rec["cost"] is None
            assert ari_watch.prompts(rec["call_id"]) == ["budget_exhausted"], attempt
            if attempt == "before restart":
                emergency = await harness.dial("2003", "0110", talk_ms=500)
                assert await emergency.wait() == 0 and emergency.saw("ANSWERED")
                lab.stop_controller()
                lab.start_controller()
                lab.wait_controller_connected()
        assert carrier.dialed() == ["62345678", "62345678", "110"]
        await asyncio.sleep(1.5)  # three refreshes after the restart: no alert repeated
        assert _alerts(mqtt, "person:zhou.qiang") == [80, 100]
    finally:
        _restore(lab)
    await harness.wait_clean()


async def test_budget_downgrade_set_from_the_cli_limits_calls_to_local(
    harness: Harness, lab: Lab, ari_watch: AriWatch
) -> None:
    """LOG-4: `budget set person wang.li 0.01 --action downgrade`: once her calls used it up,
    王丽 (a director) may still call locally; a national call is refused as above class."""
    assert lab.state is not None
    db = lab.state.database_url
    made = _cg(
        "budget", "set", "person", "wang.li", "0.01", "--action", "downgrade", "--by", "finance", "--db", db
    )
    assert made.returncode == 0, made.stderr
    try:
        await asyncio.sleep(1.0)  # the keeper re-reads budgets every 0.5 s in the lab
        carrier = await harness.carrier()
        first = await _call(harness, "1001", LOCAL)
        assert first["budget"] == "person:wang.li" and first["cost"] == "0.2200"
        t0 = now()
        caller = await harness.dial("1001", "001012345678")
        assert await caller.wait() == 0 and caller.final_code() == 403
        refused = await harness.wait_record(t0, "001012345678", disposition="above_class")
        assert refused["decisions"][0]["rule"] == "LOG-4"
        assert ari_watch.prompts(refused["call_id"]) == ["refused_class"]
        local = await _call(harness, "1001", LOCAL)
        assert local["disposition"] == "answered"
        assert carrier.dialed() == ["62345678", "62345678"]
        listed = json.loads(_cg("budget", "list", "--db", db, "--json").stdout)
        [mine] = [b for b in listed if b["budget"] == "person:wang.li"]
        assert (mine["spend"], mine["action"], mine["downgrade_to"]) == ("0.44", "downgrade", "local")
    finally:
        gone = _cg("budget", "remove", "person", "wang.li", "--by", "finance", "--db", db)
        assert gone.returncode == 0, gone.stderr
    await harness.wait_clean()


async def test_costs_and_budgets_on_postgres(postgres: PgServer) -> None:  # noqa: F811
    """Migration 0007 on PostgreSQL: exact costs, budgets upserted, spend per budget, one alert
    per threshold even when two nodes race for it, rerate."""
    engines = [make_engine(postgres.url), make_engine(postgres.url)]
    try:
        await migrate(engines[0])
        rec = answered_record("pg-cost")
        rec.direction, rec.number_class, rec.callee = "outbound", "local", rec.callee
        assert rec.callee is not None
        rec.callee = type(rec.callee)(number="62345678")
        rec.caller = type(rec.caller)(number="2003", department="sales", person="zhou.qiang")
        rec.cost, rec.tariff, rec.budget = Decimal("0.33"), "old", "person:zhou.qiang"
        await write_records(engines[0], [rec])
        [row] = await list_calls(engines[0])
        assert (row["cost"], row["tariff"], row["budget"]) == ("0.3300", "old", "person:zhou.qiang")
        month = month_of(rec.started_at or datetime.now(UTC))
        person = Budget("person", "zhou.qiang", Decimal("0.30"), "block")
        await set_budget(engines[0], Budget("person", "zhou.qiang", Decimal(9), "alert"), "a")
        await set_budget(engines[1], person, "b")
        assert await stored_budgets(engines[0]) == [person]
        dept = Budget("department", "sales", Decimal(1))
        spend = await month_spend(engines[0], month, [person, dept])
        assert spend == {person.key: Decimal("0.33"), dept.key: Decimal("0.33")}
        raced = await asyncio.gather(
            *(record_alert(e, person.key, month, 100, Decimal("0.33"), datetime.now(UTC)) for e in engines)
        )
        assert sorted(raced) == [False, True]
        table = load_config(
            Path(__file__).resolve().parents[2] / "config" / "callguard.toml",
            {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"},
        ).tariffs
        done = await rerate(engines[0], month, TariffTable(table))
        assert (done.calls, done.changed, done.before) == (1, 1, Decimal("0.33"))
        [row] = await list_calls(engines[0])
        assert (row["cost"], row["tariff"]) == (str(done.after.quantize(Decimal("0.0001"))), "cn-local")
    finally:
        for engine in engines:
            await engine.dispose()
