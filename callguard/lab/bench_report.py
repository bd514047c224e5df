"""How `callguard bench` shows its figures: a table with the paths side by side, and the same
as JSON in a file so that runs can be compared."""

from __future__ import annotations

import json
from pathlib import Path

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
        r.name,
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
    print(
        "\nPDD = post-dial delay, INVITE sent to 180 Ringing received, per call (SIPp rtd). "
        "completed + failed + shed = calls placed; shed = refused at once with 503."
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
