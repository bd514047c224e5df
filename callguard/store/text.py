"""Call records as terminal lines, aligned even when names are written in Chinese."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any


def display_width(text: str) -> int:
    """Columns a terminal uses for `text`: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _party(p: dict[str, Any], fallback: str = "-") -> str:
    if not p.get("number"):
        return fallback
    return f"{p['number']} {p['name']}" if p.get("name") else str(p["number"])


def call_line(c: dict[str, Any]) -> str:
    """One call record (as `list_calls` returns it) on one line."""
    talk = f"{c['talk_s']:.1f}s" if c.get("talk_s") is not None else "-"
    # Stored in UTC; shown in the machine's local time, as people read their phone logs.
    started = c.get("started_at")
    start = datetime.fromisoformat(started).astimezone().strftime("%Y-%m-%d %H:%M:%S") if started else "-"
    extra = ""
    if c.get("number_class"):
        extra += f"  [{c['number_class']}"
        if c.get("authorized_by"):
            extra += f" pin:{c['authorized_by']}"
        if c.get("matter"):
            extra += f" matter:{c['matter']}"
        if c.get("cost") is not None:  # LOG-4: the price and the budget it was charged to
            extra += f" {Decimal(c['cost']).quantize(Decimal('0.01'))} 元"
        if c.get("budget"):
            extra += f" budget:{c['budget']}"
        extra += "]"
    return (
        f"{start}  {pad(c['direction'], 8)} {pad(_party(c['caller']), 24)} -> "
        f"{pad(_party(c['callee'], str(c['dialed'])), 24)} {pad(c['disposition'], 17)} "
        f"talk {pad(talk, 7)} cause {pad(str(c.get('hangup_cause') or '-'), 4)}{c['call_id']}{extra}"
    )


def _local(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S") if iso else "-"


def violation_line(v: dict[str, Any]) -> str:
    """One row of the violations ledger (as `list_violations` returns it) on one line."""
    fine = f"{v['fine_yuan']:.2f} 元"
    who = v.get("person") or "-"
    # LOG-5: the ladder step, the appeal status and the last day to appeal.
    step, status, by = v.get("step") or "-", v.get("status") or "-", v.get("appeal_by") or "-"
    ladder = f"{pad(step, 15)} {pad(status, 10)} appeal by {by:<10}"
    return (
        f"{pad(str(v.get('id', '')), 5)} {_local(v.get('at'))}  {pad(v['rule'], 6)} {pad(v['extension'], 6)} "
        f"{pad(who, 12)} {pad(fine, 12)} {pad(v['severity'], 7)} {ladder} {v['reason']}  ({v['call_id']})"
    )
