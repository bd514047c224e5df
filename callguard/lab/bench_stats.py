"""The bench's figures as plain data: one path's result, its JSON shape, percentiles, and the
search for the plain path's clean rate. Pure: no processes, no clocks (tested in tests/unit)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Issue 12's "clean": no failed call and PDD p99 at most this.
CLEAN_PDD_P99_MS = 20.0
JSON_VERSION = 1


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank, as SIPp's figures are steps of its clock); NaN if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class PathResult:
    """One path's run. completed + shed + failed = calls placed."""

    name: str
    completed: int  # the caller was answered
    failed: int  # neither answered nor shed (SIPp gave up, another final code)
    pdd_ms: list[float]  # INVITE sent -> 180 received, per call that rang
    asterisk_cpu_ms: float  # per call placed
    controller_cpu_ms: float  # per call placed
    channels_left: int
    bridges_left: int
    wall_s: float
    asterisk_rss_mb: float  # after the run
    controller_rss_mb: float
    shed: int = 0  # refused at once with 503 (callguard's load shedding)
    rate: float = 0.0
    # Asterisk is one process for both paths: its RSS after a path includes the paths before it.
    asterisk_rss_start_mb: float = float("nan")
    # The controller's MQTT events published and records written during the path, and what it
    # still owed after the settle (events, records); None if its metrics did not answer.
    work: dict[str, int] | None = None
    round_number: int = 1  # with --rounds, which round of the alternating paths this was

    @property
    def label(self) -> str:
        """The path's name in a table of several rounds: "callguard 2"."""
        return self.name if self.round_number == 1 else f"{self.name} {self.round_number}"

    @property
    def clean(self) -> bool:
        return is_clean(self.failed + self.shed, pct(self.pdd_ms, 0.99))

    def as_dict(self) -> dict[str, Any]:
        """What `--json` writes for a path (NaN becomes null: JSON has no NaN)."""
        return {
            "name": self.name,
            "round": self.round_number,
            "rate": self.rate,
            "calls": self.completed + self.failed + self.shed,
            "completed": self.completed,
            "failed": self.failed,
            "shed": self.shed,
            "pdd_ms": {"p50": _num(pct(self.pdd_ms, 0.5)), "p99": _num(pct(self.pdd_ms, 0.99))},
            "cpu_ms_per_call": {
                "asterisk": _num(self.asterisk_cpu_ms),
                "callguard": _num(self.controller_cpu_ms),
            },
            "rss_mib": {
                "asterisk": _num(self.asterisk_rss_mb),
                "asterisk_at_start": _num(self.asterisk_rss_start_mb),
                "callguard": _num(self.controller_rss_mb),
            },
            "left": {"channels": self.channels_left, "bridges": self.bridges_left},
            "controller_work": self.work,
            "wall_s": _num(self.wall_s),
        }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def round_order(paths: tuple[tuple[str, str], ...], round_number: int) -> tuple[tuple[str, str], ...]:
    """Round 1 runs the paths in order, round 2 in reverse, and so on (ABBA): Asterisk's cost drifts
    over a run (its RSS, the machine's other load), and alternating spreads the drift over both."""
    return paths if round_number % 2 == 1 else tuple(reversed(paths))


def is_clean(failed: int, pdd_p99_ms: float, limit_ms: float = CLEAN_PDD_P99_MS) -> bool:
    """Issue 12: 0 failed and PDD p99 <= 20 ms (no PDD at all is not clean)."""
    return failed == 0 and not math.isnan(pdd_p99_ms) and pdd_p99_ms <= limit_ms


def find_limit(
    probe: Callable[[float], bool],
    start: float = 25.0,
    ceiling: float = 400.0,
    resolution: float = 0.1,
) -> tuple[float | None, list[tuple[float, bool]]]:
    """The highest rate `probe` calls clean: double from `start` until a rate is not clean (or
    `ceiling` is reached), then bisect until the bracket is within `resolution` (a fraction of the
    clean rate). Halves below `start` if even that is not clean. Returns (rate or None, the probes)."""
    tried: list[tuple[float, bool]] = []

    def run(rate: float) -> bool:
        ok = probe(rate)
        tried.append((rate, ok))
        return ok

    good, bad = _bracket(run, start, ceiling)
    if good is None:
        return None, tried
    while bad is not None and bad - good > resolution * good:
        mid = round((good + bad) / 2, 1)
        if mid in (good, bad):
            break
        good, bad = (mid, bad) if run(mid) else (good, mid)
    return good, tried


def _bracket(run: Callable[[float], bool], start: float, ceiling: float) -> tuple[float | None, float | None]:
    """(a clean rate, a higher unclean rate or None if `ceiling` itself is clean)."""
    rate = start
    if not run(rate):
        bad = rate
        while rate > 1.0:
            rate = round(rate / 2, 1)
            if run(rate):
                return rate, bad
            bad = rate
        return None, bad
    while rate < ceiling:
        higher = min(ceiling, rate * 2)
        if not run(higher):
            return rate, higher
        rate = higher
    return rate, None


@dataclass
class Report:
    """Everything one `bench` run writes as JSON, so runs can be compared."""

    settings: dict[str, Any]
    paths: list[PathResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # find-limit, soak, rings, profile

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "settings": self.settings,
            "paths": [p.as_dict() for p in self.paths],
            **self.extra,
        }
