"""Record lines line up in a terminal whatever script the names are written in."""

from __future__ import annotations

import time

import pytest

from callguard.store.text import call_line, display_width


def _record(name: str, disposition: str, talk: float | None) -> dict[str, object]:
    return {
        "started_at": "2026-11-22T10:00:00+00:00",
        "direction": "internal",
        "dialed": "1002",
        "caller": {"number": "1001", "name": name},
        "callee": {"number": None, "name": None},
        "disposition": disposition,
        "talk_s": talk,
        "hangup_cause": 16,
        "call_id": "X",
    }


def test_cjk_characters_count_two_columns() -> None:
    assert display_width("王丽 Wang Li") == 12
    assert display_width("abc") == 3


def test_columns_align_for_chinese_and_latin_names() -> None:
    lines = [call_line(_record("王丽 Wang Li", "answered", 12.5)), call_line(_record("Bob", "busy", None))]
    # The call id column starts at the same terminal column on both lines.
    assert len({display_width(line[: line.rindex("X")]) for line in lines}) == 1
    assert "-> 1002 " in lines[0] and "talk 12.5s" in lines[0] and "cause 16" in lines[0]


def test_start_time_is_shown_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert call_line(_record("Bob", "busy", None)).startswith("2026-11-22 18:00:00")
    finally:
        monkeypatch.undo()
        time.tzset()
