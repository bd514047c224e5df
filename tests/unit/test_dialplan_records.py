"""LOG-1: calls the dialplan handles alone are recorded: a CDR row or the live UserEvents →
one record (parties, direction, class, disposition, UTC times); the CDR import reads on from its
checkpoint and never stores a call twice."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from callguard.config import load_config
from callguard.dialplan_calls import CdrImporter, DialplanRecords, parse_cdr_row
from callguard.dialplan_calls.live import DialplanCalls, call_from_event
from callguard.dialplan_calls.mapping import CDR_COLUMNS, instant, merge
from callguard.policy import Directory
from callguard.store import list_calls, make_engine, migrate, write_records
from callguard.store.cdr import load_checkpoint
from tests.records import answered_record

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
CONFIG = load_config(PROJECT / "config" / "callguard.toml", ENV)
T0 = 1_800_000_000.25  # 2027-01-15 08:00:00.25 UTC


def records(rate: object = None) -> DialplanRecords:
    return DialplanRecords(Directory(CONFIG.directory), CONFIG.outbound, "office-1", rate)  # type: ignore[arg-type]


def cdr_line(**over: str) -> str:
    """One row as dialplan/cdr_custom.conf writes it."""
    row = {
        "uniqueid": "1800000000.7",
        "linkedid": "1800000000.7",
        "start": f"{T0:.6f}",
        "answer": f"{T0 + 3:.6f}",
        "end": f"{T0 + 63.5:.6f}",
        "src": "1001",
        "dst": "out",
        "dcontext": "callguard-degraded-outside",
        "channel": "PJSIP/1001-00000003",
        "dstchannel": "PJSIP/pstn-00000004",
        "disposition": "ANSWERED",
        "duration": "63",
        "billsec": "60",
        "userfield": "callguard-degraded",
        "cg_dialed": "062345678",
        **over,
    }
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([row[c] for c in CDR_COLUMNS])
    return out.getvalue()


def parsed(**over: str):  # type: ignore[no-untyped-def]
    line = cdr_line(**over)
    return parse_cdr_row(next(csv.reader([line])))


def test_a_failsafe_outside_call_from_the_cdr() -> None:
    rec = records().record(parsed())
    assert rec.call_id == "1800000000.7" and rec.handled_by == "dialplan"
    assert rec.direction == "outbound" and rec.number_class == "local" and rec.dialed == "062345678"
    # The line is the channel's endpoint; the caller ID would not be trusted.
    assert rec.line == "1001" and rec.caller.person == "wang.li" and rec.callee.number == "62345678"
    assert rec.started_at == datetime(2027, 1, 15, 8, 0, 0, 250000, tzinfo=UTC)
    assert rec.talk_s == pytest.approx(60.5) and rec.disposition == "answered"
    assert rec.decisions == [
        {
            "action": "failsafe",
            "reason": "callguard_not_connected",
            "rule": "LOG-1",
            "by": "dialplan",
            "source": "cdr",
        }
    ]
    assert [leg.role for leg in rec.legs] == ["caller", "callee"]


def test_the_line_is_the_endpoint_never_the_caller_id() -> None:
    rec = records().record(parsed(src="2001", channel="PJSIP/1003-0000000a", cg_dialed="1002"))
    assert rec.direction == "internal" and rec.line == "1003" and rec.caller.person == "chen.jie"
    assert rec.callee.person == "zhao.min" and rec.number_class is None


def test_an_outside_caller_through_the_trunk_is_inbound() -> None:
    rec = records().record(parsed(src="13800138000", channel="PJSIP/pstn-00000001", cg_dialed="1001"))
    assert rec.direction == "inbound" and rec.line is None
    assert rec.caller.number == "13800138000" and not rec.caller.internal
    assert rec.callee.person == "wang.li"


@pytest.mark.parametrize(
    ("disposition", "answer", "dstchannel", "expected"),
    [
        ("ANSWERED", f"{T0 + 3}", "PJSIP/1002-1", "answered"),
        ("NO ANSWER", "0.000000", "PJSIP/1002-1", "no_answer"),
        ("BUSY", "", "PJSIP/1002-1", "busy"),
        ("FAILED", "0", "PJSIP/1002-1", "failed"),
        ("CONGESTION", "", "PJSIP/1002-1", "failed"),
        ("NO ANSWER", "", "", "refused"),  # the fail-safe refused it before dialling anyone
    ],
)
def test_cdr_dispositions(disposition: str, answer: str, dstchannel: str, expected: str) -> None:
    rec = records().record(parsed(disposition=disposition, answer=answer, dstchannel=dstchannel))
    assert rec.disposition == expected
    assert (rec.talk_s is not None) == (expected == "answered")


def test_only_rows_the_dialplan_marked_are_its_calls() -> None:
    # A Stasis call's rows (no mark) are callguard's own: it has their records.
    assert parsed(userfield="") is None
    assert parsed(userfield="something-else") is None
    emergency = parsed(userfield="callguard-emergency", cg_dialed="110", dstchannel="PJSIP/pstn-9")
    rec = records().record(emergency)
    assert rec.number_class == "emergency" and rec.callee.number == "110"
    assert rec.decisions[0]["rule"] == "OUT-6"
    with pytest.raises(ValueError):
        parse_cdr_row(["too", "short"])


def test_rows_of_one_call_are_merged() -> None:
    first = parsed(answer="", end=f"{T0 + 10}", dstchannel="PJSIP/1002-1", disposition="NO ANSWER")
    second = parsed(start=f"{T0 + 10}", answer=f"{T0 + 12}", end=f"{T0 + 20}", dstchannel="PJSIP/1003-2")
    assert first is not None and second is not None
    call = merge([first, second])
    assert call.answered_at == second.answered_at and call.peer_channel == "PJSIP/1003-2"
    assert call.started_at == first.started_at and call.ended_at == second.ended_at


def test_answered_outside_calls_are_priced_when_a_tariff_applies() -> None:
    seen = []

    def rate(number: str, number_class: str, at: datetime, talk_s: float) -> tuple[Decimal, str]:
        seen.append((number, number_class, round(talk_s, 1)))
        return Decimal("0.33"), "cn-local"

    rec = records(rate).record(parsed())
    assert (rec.cost, rec.tariff) == (Decimal("0.33"), "cn-local")
    assert seen == [("62345678", "local", 60.5)]
    assert records(rate).record(parsed(userfield="callguard-emergency", cg_dialed="110")).cost is None


def test_live_user_events_record_the_call_once_it_ends() -> None:
    submitted, emitted = [], []
    live = DialplanCalls(records(), lambda e, **f: emitted.append((e, f)), submitted.append)
    base = {"UserEvent": "CallguardDialplan", "CallId": "1800000000.9", "Line": "2003", "From": "2003"}
    live.on_user_event({**base, "Stage": "start", "Kind": "degraded", "Number": "1001"})
    assert submitted == [] and emitted == []
    live.on_user_event(
        {
            **base,
            "Stage": "end",
            "Kind": "degraded",
            "Number": "1001",
            "Start": "2027-01-15T08:00:00.250",  # STRFTIME(,UTC,...) in extensions.conf
            "End": "2027-01-15T08:00:10.250",
            "DialStatus": "ANSWER",
            "AnsweredMs": "8000",
            "Cause": "16",
        }
    )
    [rec] = submitted
    assert rec.started_at == datetime.fromtimestamp(T0, UTC) and rec.ended_at == datetime.fromtimestamp(
        T0 + 10, UTC
    )
    assert rec.handled_by == "dialplan" and rec.direction == "internal" and rec.disposition == "answered"
    assert rec.talk_s == pytest.approx(8.0) and rec.caller.person == "zhou.qiang"
    assert rec.decisions[0]["source"] == "ami"
    assert [e for e, _ in emitted] == ["call.dialplan", "call.ended"]
    refused = call_from_event({**base, "Stage": "end", "Kind": "degraded", "Number": "0168", "Cause": "21"})
    assert refused is not None and refused.disposition == "refused"


def test_live_emergency_calls_are_announced_at_once() -> None:
    emitted = []
    live = DialplanCalls(records(), lambda e, **f: emitted.append((e, f)), lambda r: None)
    live.on_user_event(
        {
            "UserEvent": "CallguardDialplan",
            "Stage": "start",
            "Kind": "emergency",
            "CallId": "1.2",
            "Line": "9100",
            "Number": "110",
        }
    )
    assert emitted == [
        ("call.emergency", {"call_id": "1.2", "ext": "9100", "dialed": "110", "rule": "OUT-6"})
    ]


def _importer(tmp_path: Path, engine, path: Path, events: list) -> CdrImporter:  # type: ignore[no-untyped-def]
    return CdrImporter(engine, path, records(), "office-1", lambda e, **f: events.append((e, f)))


def test_import_checkpoint_and_dedupe(tmp_path: Path) -> None:
    async def go() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
        await migrate(engine)
        # A call callguard recorded itself, and one the dialplan reported live: both are stored.
        await write_records(engine, [answered_record("1800000000.1")])
        live = records().record(parsed(uniqueid="1800000000.2"))
        await write_records(engine, [live])
        path = tmp_path / "callguard.csv"
        path.write_text(
            cdr_line(uniqueid="1800000000.1", userfield="")  # callguard's own call: not its row
            + cdr_line(uniqueid="1800000000.2")  # recorded live already
            + cdr_line(uniqueid="1800000000.3")
            + "garbage,row\n"
            + cdr_line(uniqueid="1800000000.4")[:40]  # still being written: no newline yet
        )
        events: list = []
        importer = _importer(tmp_path, engine, path, events)
        first = await importer.import_once()
        assert first is not None
        assert (first.rows, first.imported, first.skipped, first.bad) == (4, 1, 1, 1)
        point = await load_checkpoint(engine, f"office-1:{path}")
        assert point is not None and point.offset == len(path.read_bytes()) - 40

        # The rest of the partial row arrives; only it is read, and the same import again is a no-op.
        with path.open("a") as f:
            f.write(cdr_line(uniqueid="1800000000.4")[40:])
        second = await importer.import_once()
        assert second is not None and (second.rows, second.imported) == (1, 1)
        third = await importer.import_once()
        assert third is not None and (third.rows, third.imported) == (0, 0)

        # A rotated file (another inode) is read from its start; its calls stored are skipped.
        path.rename(tmp_path / "old.csv")
        path.write_text(cdr_line(uniqueid="1800000000.3") + cdr_line(uniqueid="1800000000.5"))
        fourth = await importer.import_once()
        assert fourth is not None and (fourth.rows, fourth.imported, fourth.skipped) == (2, 1, 1)

        calls = await list_calls(engine)
        ids = sorted(c["call_id"] for c in calls)
        assert ids == [f"1800000000.{i}" for i in range(1, 6)]  # each once
        assert {c["call_id"]: c["handled_by"] for c in calls}["1800000000.1"] == "callguard"
        assert all(c["handled_by"] == "dialplan" for c in calls if c["call_id"] != "1800000000.1")
        assert [f["count"] for e, f in events if e == "cdr.imported"] == [1, 1, 1]
        await engine.dispose()

    asyncio.run(go())


def test_a_missing_cdr_file_is_no_error(tmp_path: Path) -> None:
    async def go() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
        await migrate(engine)
        events: list = []
        assert await _importer(tmp_path, engine, tmp_path / "none.csv", events).import_once() is None
        assert events == []
        await engine.dispose()

    asyncio.run(go())


def test_dialplan_times_are_read_as_utc_stamps_or_epoch_seconds() -> None:
    """extensions.conf sends UTC stamps; older dialplans sent `%s.%3q`, and the CDR's `u` option
    gives epoch seconds. None of them depends on the zone of the process reading them."""
    at = datetime.fromtimestamp(T0, UTC)
    assert instant("2027-01-15T08:00:00.250") == at
    assert instant(f"{T0:.3f}") == at
    assert instant("2027-01-15T16:00:00.250+08:00") == at
    assert instant("") is None and instant("0") is None and instant("soon") is None
