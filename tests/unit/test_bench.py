"""The bench's pure parts: the search for the plain path's clean rate, the JSON it writes, and how
it reads SIPp's, Prometheus's and py-spy's output. (The figures themselves are never asserted.)"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

from callguard.lab.bench_hold import lateness_summary, most_at_once, numbered, ring_spans
from callguard.lab.bench_profile import summarize_collapsed, thread_name
from callguard.lab.bench_report import combined_targets, targets
from callguard.lab.bench_soak import growth_after_warmup, parse_live_gauges
from callguard.lab.bench_stats import PathResult, Report, find_limit, is_clean, pct, round_order


def _machine(limit: float) -> tuple[list[float], Callable[[float], bool]]:
    """A fake plain path that is clean up to `limit` calls/s; records the rates it was asked."""
    asked: list[float] = []

    def probe(rate: float) -> bool:
        asked.append(rate)
        return rate <= limit

    return asked, probe


def test_find_limit_ramps_then_bisects_to_within_the_resolution() -> None:
    asked, probe = _machine(150.0)
    rate, tried = find_limit(probe, start=25, ceiling=400, resolution=0.1)
    assert asked[:4] == [25, 50, 100, 200]  # doubling until 200 is not clean
    assert rate is not None and 150 * 0.9 <= rate <= 150
    assert all(ok == (r <= 150) for r, ok in tried)
    assert len(tried) <= 8  # a short search, not a sweep


def test_find_limit_stops_at_the_ceiling_when_everything_is_clean() -> None:
    _, probe = _machine(10_000.0)
    rate, tried = find_limit(probe, start=25, ceiling=300)
    assert rate == 300
    assert [r for r, _ in tried] == [25, 50, 100, 200, 300]


def test_find_limit_halves_below_the_start_and_gives_up_when_nothing_is_clean() -> None:
    _, probe = _machine(7.0)
    rate, _ = find_limit(probe, start=25)
    assert rate is not None and 7 * 0.9 <= rate <= 7
    _, never = _machine(0.0)
    assert find_limit(never, start=25)[0] is None


def test_clean_means_no_failed_call_and_pdd_p99_within_20_ms() -> None:
    assert is_clean(0, 20.0)
    assert not is_clean(0, 20.5)
    assert not is_clean(1, 4.0)
    assert not is_clean(0, float("nan"))  # no call rang at all


_BASE = PathResult(
    name="callguard", completed=97, failed=1, pdd_ms=[4.0] * 98 + [30.0, 40.0],
    asterisk_cpu_ms=5.0, controller_cpu_ms=9.125, channels_left=0, bridges_left=1,
    wall_s=10.0, asterisk_rss_mb=480.0, controller_rss_mb=float("nan"), shed=2, rate=100.0,
)  # fmt: skip


def _result(**changes: Any) -> PathResult:
    return dataclasses.replace(_BASE, **changes)


def test_the_json_has_every_figure_of_both_paths_and_is_valid_json() -> None:
    report = Report(
        settings={"rate": 100.0}, paths=[_result(name="plain Dial()", shed=0, failed=3), _result()]
    )
    report.extra["find_limit"] = {"clean_rate": 150.0}
    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))  # NaN would not be JSON
    assert data["version"] == 1 and data["find_limit"] == {"clean_rate": 150.0}
    plain, guard = data["paths"]
    assert plain["name"] == "plain Dial()" and guard["name"] == "callguard"
    assert guard["calls"] == 100 and (guard["completed"], guard["failed"], guard["shed"]) == (97, 1, 2)
    assert guard["pdd_ms"] == {"p50": 4.0, "p99": 40.0}
    assert guard["cpu_ms_per_call"] == {"asterisk": 5.0, "callguard": 9.125}
    assert guard["rss_mib"] == {"asterisk": 480.0, "asterisk_at_start": None, "callguard": None}
    assert guard["left"] == {"channels": 0, "bridges": 1}
    assert guard["rate"] == 100.0


def test_a_path_that_shed_calls_is_not_clean() -> None:
    fast = [4.0] * 100
    assert _result(failed=0, shed=0, pdd_ms=fast).clean
    assert not _result(failed=0, shed=1, pdd_ms=fast).clean
    assert math.isnan(pct([], 0.5))


def test_ring_spans_pair_each_calls_invite_with_its_own_cancel() -> None:
    lines = [
        "1000 1 INVITE_RECEIVED",
        "1000 1 DIALED 1003",
        "1010 2 INVITE_RECEIVED",
        "4012 2 CANCELLED",
        "4030 1 CANCELLED",
        "4100 3 INVITE_RECEIVED",  # never cancelled: not measured
        "garbage",
    ]
    assert ring_spans(lines) == [(1010, 4012), (1000, 4030)]
    assert most_at_once([(1010, 4012), (1000, 4030), (5000, 6000)]) == 2
    summary = lateness_summary([(1010, 4012), (1000, 4030)], limit_s=3.0, calls=3)
    assert summary["measured"] == 2 and summary["calls"] == 3
    assert summary["lateness_ms"] == {"min": 2.0, "p50": 30.0, "p99": 30.0, "max": 30.0}


def test_the_silent_phone_logs_its_call_number_on_every_line() -> None:
    scenario = numbered(
        '<log message="[clock_tick] INVITE_RECEIVED"/><log message="[clock_tick] CANCELLED"/>'
    )
    assert scenario.count("[clock_tick] [call_number] ") == 2


def test_live_gauges_are_read_from_the_metrics_page() -> None:
    page = "\n".join(
        [
            "# HELP callguard_calls Live calls, by state",
            "# TYPE callguard_calls gauge",
            'callguard_calls{state="ringing"} 2.0',
            'callguard_calls{state="talking"} 1.0',
            "# TYPE callguard_sessions_alive gauge",
            "callguard_sessions_alive 3.0",
            "callguard_sessions_alive_total_other 9.0",
        ]
    )
    assert parse_live_gauges(page) == {"callguard_calls": 3.0, "callguard_sessions_alive": 3.0}
    empty = (
        "# TYPE callguard_calls gauge\n# TYPE callguard_sessions_alive gauge\ncallguard_sessions_alive 0.0\n"
    )
    assert parse_live_gauges(empty) == {"callguard_calls": 0.0, "callguard_sessions_alive": 0.0}


def test_rss_growth_is_counted_from_the_end_of_the_warm_up() -> None:
    rows = [
        (0.0, 100.0, 50.0),
        (5.0, 200.0, 80.0),
        (10.0, 210.0, 90.0),
        (15.0, 215.0, 91.0),
        (20.0, 230.0, 95.5),
    ]
    growth = growth_after_warmup(rows, warmup_s=10.0)
    assert (growth["asterisk_mib"], growth["callguard_mib"], growth["samples"]) == (20.0, 5.5, 3)
    assert growth_after_warmup(rows[:3], warmup_s=10.0)["callguard_mib"] is None  # one sample: no growth


def test_the_profile_summary_adds_up_threads_leaves_and_stacks() -> None:
    raw = "\n".join(
        [
            "thread (1): MainThread;run (a.py:1);encode (json.py:2) 60",
            "thread (1): MainThread;run (a.py:1);request (ari.py:3) 20",
            "thread (7): Thread-2 (_connection_worker_thread);_worker (aiosqlite.py:59) 15",
            "thread (8): Thread-3 (_connection_worker_thread);_worker (aiosqlite.py:59) 5",
        ]
    )
    summary = summarize_collapsed(raw)
    assert summary["samples"] == 100
    assert summary["threads"] == [["MainThread", 80.0], ["_connection_worker_thread", 20.0]]
    assert summary["self"][0] == ["encode (json.py:2)", 60.0]
    assert ["run (a.py:1)", 80.0] in summary["total"]
    assert summarize_collapsed("")["samples"] == 0
    assert thread_name("thread (0x7f): Thread-9 (worker)") == "worker"


def test_issue_12_targets_are_ratios_to_the_plain_path_of_the_same_run() -> None:
    plain = _result(name="plain Dial()", completed=100, failed=0, shed=0, pdd_ms=[4.0] * 100, bridges_left=0)
    fast = _result(
        completed=100, failed=0, shed=0, bridges_left=0,
        asterisk_cpu_ms=6.0, controller_cpu_ms=1.4, pdd_ms=[6.0] * 99 + [20.0],
        work={"mqtt_published": 600, "records_written": 200, "owed": 0},
    )  # fmt: skip
    met = {row["target"]: row for row in targets(plain, fast)}
    assert all(row["met"] for row in met.values()), met
    assert met["controller CPU / plain Asterisk CPU per call"]["value"] == 0.28
    slow = dataclasses.replace(
        fast, completed=97, shed=3, controller_cpu_ms=9.0, asterisk_cpu_ms=7.5, pdd_ms=[12.0] * 100,
        work={"mqtt_published": 20, "records_written": 200, "owed": 580},
    )  # fmt: skip
    missed = {row["target"] for row in targets(plain, slow) if not row["met"]}
    assert missed == {
        "every call completed, none shed or failed",
        "events and records owed after the run",  # a cheap path whose events never went out
        "PDD p50 added, ms",
        "controller CPU / plain Asterisk CPU per call",
        "Asterisk CPU per call, callguard / plain",
    }
    unknown = {row["target"]: row["met"] for row in targets(plain, dataclasses.replace(fast, work=None))}
    assert unknown["events and records owed after the run"] is False  # no metrics: not met


def test_rounds_alternate_the_paths_order_so_that_drift_falls_on_both() -> None:
    paths = (("plain Dial()", "benchplain"), ("callguard", "1001"))
    orders = [[name for name, _ in round_order(paths, n)] for n in (1, 2, 3, 4)]
    assert orders == [
        ["plain Dial()", "callguard"],
        ["callguard", "plain Dial()"],
        ["plain Dial()", "callguard"],
        ["callguard", "plain Dial()"],
    ]


def test_the_rounds_verdict_is_their_median_and_any_lost_call_misses() -> None:
    plain = _result(name="plain Dial()", completed=100, failed=0, shed=0, pdd_ms=[4.0] * 100, bridges_left=0)
    work = {"mqtt_published": 600, "records_written": 200, "owed": 0}
    rounds = [
        targets(plain, _result(completed=100, failed=0, shed=0, bridges_left=0, pdd_ms=[6.0] * 100,
                               asterisk_cpu_ms=cpu, controller_cpu_ms=controller, work=work))
        for cpu, controller in ((7.0, 1.0), (5.0, 2.5), (6.0, 1.2))
    ]  # fmt: skip
    verdict = {row["target"]: row for row in combined_targets(rounds)}
    controller = verdict["controller CPU / plain Asterisk CPU per call"]
    assert (controller["value"], controller["min"], controller["max"]) == (0.24, 0.2, 0.5)
    assert controller["met"]  # one bad round does not decide it ...
    assert verdict["Asterisk CPU per call, callguard / plain"]["value"] == 1.2
    # ... but a call lost in any round does, whatever the other rounds did.
    lossy = dataclasses.replace(_result(), completed=98, failed=2, shed=0, bridges_left=0, work=work)
    verdict = {row["target"]: row for row in combined_targets([*rounds, targets(plain, lossy)])}
    completed = verdict["every call completed, none shed or failed"]
    assert (completed["value"], completed["met"]) == (98, False)
    assert verdict["channels and bridges left"]["met"]


def test_a_paths_round_shows_in_its_label_and_its_json() -> None:
    first, third = _result(name="callguard"), dataclasses.replace(_result(name="callguard"), round_number=3)
    assert (first.label, third.label) == ("callguard", "callguard 3")
    assert third.as_dict()["round"] == 3 and first.as_dict()["round"] == 1
