"""How `callguard bench` shows its figures: a table with the paths side by side, and the same
as JSON in a file so that runs can be compared."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from callguard.lab.bench_stats import PathResult, Report, pct

_COLUMNS = (
    ("path", 14),
    ("rate/s", 8),
    ("completed", 10),
    ("failed", 8),
    ("shed", 6),
    ("PDD p50 ms", 12),
    ("PDD p99 ms", 12),
    ("Asterisk CPU ms/call", 22),
    ("callguard CPU ms/call", 23),
    ("channels left", 15),
    ("bridges left", 14),
    ("wall s", 8),
    ("Asterisk RSS MiB", 18),
    ("callguard RSS MiB", 19),
)


def _row(r: PathResult) -> list[str]:
    return [
        r.label,
        f"{r.rate:g}",
        str(r.completed),
        str(r.failed),
        str(r.shed),
        f"{pct(r.pdd_ms, 0.5):.1f}",
        f"{pct(r.pdd_ms, 0.99):.1f}",
        f"{r.asterisk_cpu_ms:.2f}",
        f"{r.controller_cpu_ms:.2f}",
        str(r.channels_left),
        str(r.bridges_left),
        f"{r.wall_s:.1f}",
        f"{r.asterisk_rss_mb:.0f}",
        f"{r.controller_rss_mb:.0f}",
    ]


def print_results(results: list[PathResult]) -> None:
    print()
    print("".join(f"{title:<{w}}" if i == 0 else f"{title:>{w}}" for i, (title, w) in enumerate(_COLUMNS)))
    for r in results:
        cells = _row(r)
        print(
            "".join(
                f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                for i, (c, (_, w)) in enumerate(zip(cells, _COLUMNS, strict=True))
            )
        )
    growth = ", ".join(
        f"{r.label} {r.asterisk_rss_start_mb:.0f} → {r.asterisk_rss_mb:.0f} MiB" for r in results
    )
    print(f"\nAsterisk RSS, one process through the paths in turn: {growth}")
    for r in results:
        print(f"controller's work on the {r.label} path: {_work(r)}")
    print(
        "PDD = post-dial delay, INVITE sent to 180 Ringing received, per call (SIPp rtd). "
        "completed + failed + shed = calls placed; shed = refused at once with 503."
    )


def _work(r: PathResult) -> str:
    if r.work is None:
        return "unknown (its metrics did not answer)"
    calls = max(r.completed + r.failed + r.shed, 1)
    published, written = r.work["mqtt_published"], r.work["records_written"]
    return (
        f"{published} MQTT events published ({published / calls:.1f} a call), {written} records "
        f"written ({written / calls:.1f} a call); still owed after the settle: {r.work['owed']}"
    )


def print_limit(rate: float | None, tried: list[tuple[float, bool]]) -> None:
    steps = ", ".join(f"{r:g}/s {'clean' if ok else 'not clean'}" for r, ok in tried)
    print(f"find-limit probes (plain path): {steps}")
    if rate is None:
        print("the plain path is not clean at any rate tried")
    else:
        print(f"plain path's clean rate: {rate:g} calls/s (0 failed, PDD p99 <= 20 ms)")


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    print(f"figures as JSON: {path}")


def targets(plain: PathResult, guarded: PathResult) -> list[dict[str, Any]]:
    """Issue 12's targets as ratios to the plain path of the same run, so that they hold on any
    machine: each with the figure measured, the bound and whether it is met."""
    placed = guarded.completed + guarded.failed + guarded.shed
    base_cpu = plain.asterisk_cpu_ms or float("nan")
    owed = float("nan") if guarded.work is None else guarded.work["owed"]
    rows = [
        ("every call completed, none shed or failed", guarded.completed, placed, guarded.completed == placed),
        ("channels and bridges left", guarded.channels_left + guarded.bridges_left, 0, None),
        ("events and records owed after the run", owed, 0, None),
        ("PDD p50 added, ms", pct(guarded.pdd_ms, 0.5) - pct(plain.pdd_ms, 0.5), 5.0, None),
        ("PDD p99 added, ms", pct(guarded.pdd_ms, 0.99) - pct(plain.pdd_ms, 0.99), 20.0, None),
        ("controller CPU / plain Asterisk CPU per call", guarded.controller_cpu_ms / base_cpu, 0.3, None),
        ("Asterisk CPU per call, callguard / plain", guarded.asterisk_cpu_ms / base_cpu, 1.3, None),
    ]
    out: list[dict[str, Any]] = []
    for name, value, bound, met in rows:
        ok = met if met is not None else bool(value <= bound)  # NaN compares False: not met
        out.append({"target": name, "value": round(float(value), 3), "bound": bound, "met": ok})
    return out


# Targets that count what was lost or left: one round that missed them is a miss.
EVERY_ROUND = (
    "every call completed, none shed or failed",
    "channels and bridges left",
    "events and records owed after the run",
)


def combined_targets(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several rounds' targets as one verdict: each figure is the median of the rounds (with their
    min and max), met when the median is within its bound; a call lost or a channel left in any
    round is not met, whatever the median."""
    out: list[dict[str, Any]] = []
    for rows in zip(*rounds, strict=True):
        values = [row["value"] for row in rows]
        first = rows[0]
        if first["target"] in EVERY_ROUND:
            # The worst round: the fewest calls completed, the most left or owed.
            value = min(values) if first["target"] == EVERY_ROUND[0] else max(values)
            met = all(row["met"] for row in rows)
        else:
            value = statistics.median(values)
            met = bool(value <= first["bound"])  # NaN compares False: not met
        out.append(
            {**first, "value": round(float(value), 3), "met": met, "min": min(values), "max": max(values)}
        )
    return out


def print_targets(rows: list[dict[str, Any]], rounds: int = 1) -> None:
    if rounds == 1:
        print("\nissue 12's targets (callguard against the plain path of this run):")
    else:
        print(
            f"\nissue 12's targets over {rounds} rounds (each round's callguard against its plain path; "
            "the median, [min-max]; calls lost or left: the worst round):"
        )
    for row in rows:
        mark = "met" if row["met"] else "NOT MET"
        spread = f"  [{row['min']:g}-{row['max']:g}]" if rounds > 1 else ""
        print(f"  {row['target']:<46} {row['value']:>9g}  (bound {row['bound']:g})  {mark}{spread}")
