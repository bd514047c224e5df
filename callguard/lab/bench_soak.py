"""`callguard bench --soak N`: memory over many calls. Samples Asterisk's and the controller's RSS
every few seconds while a path runs N calls, then reads the controller's live gauges (sessions
alive, calls by state) from its Prometheus metrics: after the load both must be back to zero."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from callguard.lab.bench_paths import Beside, rss_mb
from callguard.lab.lab import Lab
from callguard.lab.metrics_page import parse_metrics, read_metrics

SAMPLE_EVERY_S = 5.0
LIVE_GAUGES = ("callguard_sessions_alive", "callguard_calls")


@dataclass
class RssSamples:
    """(seconds since the load started, Asterisk MiB, controller MiB) every few seconds."""

    rows: list[tuple[float, float, float]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def take(self, lab: Lab) -> None:
        assert lab.state is not None
        pids = lab.state.pids
        now = time.monotonic() - self.t0
        self.rows.append((round(now, 1), rss_mb(pids.get("asterisk")), rss_mb(pids.get("callguard"))))


def sampler(lab: Lab, samples: RssSamples, every_s: float = SAMPLE_EVERY_S) -> Beside:
    async def sample() -> None:
        samples.t0 = time.monotonic()
        while True:
            samples.take(lab)
            await asyncio.sleep(every_s)

    return sample


def growth_after_warmup(rows: list[tuple[float, float, float]], warmup_s: float) -> dict[str, Any]:
    """RSS growth from the first sample at or after `warmup_s` to the last (MiB, per process)."""
    settled = [r for r in rows if r[0] >= warmup_s]
    if len(settled) < 2:
        return {"warmup_s": warmup_s, "samples": len(settled), "asterisk_mib": None, "callguard_mib": None}
    first, last = settled[0], settled[-1]
    return {
        "warmup_s": warmup_s,
        "samples": len(settled),
        "from_s": first[0],
        "to_s": last[0],
        "asterisk_mib": round(last[1] - first[1], 1),
        "callguard_mib": round(last[2] - first[2], 1),
    }


def parse_live_gauges(text: str) -> dict[str, float]:
    """The live gauges' values from a Prometheus text page; labelled series are summed."""
    return parse_metrics(text, LIVE_GAUGES)


def read_live_gauges(metrics_url: str) -> dict[str, float] | None:
    """None if the controller's metrics do not answer."""
    return read_metrics(metrics_url, LIVE_GAUGES)


def default_warmup_s(count: int, rate: float) -> float:
    """A tenth of the run, at least 10 s: the pools, caches and arenas have grown by then."""
    return max(10.0, 0.1 * count / rate)


def soak_summary(samples: RssSamples, warmup_s: float, gauges: dict[str, float] | None) -> dict[str, Any]:
    """What `--soak` prints and writes for one path."""
    return {
        "rss_growth_after_warmup": growth_after_warmup(samples.rows, warmup_s),
        "live_after": gauges,
        "rss_samples": [list(r) for r in samples.rows],
    }


def print_soak(name: str, summary: dict[str, Any]) -> None:
    growth = summary["rss_growth_after_warmup"]
    live = summary["live_after"]
    sessions = (
        "unknown (metrics did not answer)" if live is None else f"{live.get('callguard_sessions_alive', 0):g}"
    )
    calls = "unknown" if live is None else f"{live.get('callguard_calls', 0):g}"
    print(
        f"soak {name}: RSS growth after {growth['warmup_s']:g} s warm-up "
        f"({growth['samples']} samples): Asterisk {growth['asterisk_mib']} MiB, "
        f"callguard {growth['callguard_mib']} MiB; sessions alive at the end {sessions}, live calls {calls}"
    )
