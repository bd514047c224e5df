"""What Asterisk reports about a call the dialplan handled alone → one CallRecord (LOG-1).

Pure: a `DialplanCall` (from the live UserEvents or from a CDR row) in, a record out. The
parties are resolved as callguard resolves them for its own calls: a desk phone is its line
(the PJSIP endpoint of the caller channel), never the caller ID it claims; an outside number is
classed by the number plan; a call from the trunk is inbound."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from callguard.config import OutboundSettings
from callguard.policy import Directory, Party, q850
from callguard.policy.numbers import Numbering, NumberPlan
from callguard.records import CallRecord, LegRecord

DIALPLAN = "dialplan"  # CallRecord.handled_by
EMERGENCY, DEGRADED = "emergency", "degraded"  # ARG1 of callguard-dialplan-start
# CDR(userfield) of the rows `cdr import` takes (dialplan/extensions.conf); any other row is a
# call callguard handled itself (it has its record) or a leg of one.
CDR_MARKS = {"callguard-emergency": EMERGENCY, "callguard-degraded": DEGRADED}
# dialplan/cdr_custom.conf writes these columns in this order.
CDR_COLUMNS = (
    "uniqueid",
    "linkedid",
    "start",
    "answer",
    "end",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "disposition",
    "duration",
    "billsec",
    "userfield",
    "cg_dialed",
)

# (number, number class, answered at, talk seconds) → (cost, tariff id), or None (LOG-4).
Rate = Callable[[str, str, datetime, float], tuple[Decimal, str] | None]


@dataclass(frozen=True, slots=True)
class DialplanCall:
    """One call the dialplan handled alone, as Asterisk reported it."""

    call_id: str  # the caller channel's UNIQUEID
    kind: str  # EMERGENCY | DEGRADED
    line: str  # the caller channel's PJSIP endpoint ("pstn" for the trunk; "" if none)
    caller_id: str  # what the caller ID claimed
    dialed: str
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    disposition: str
    source: str  # "ami" (live) | "cdr"
    peer_channel: str | None = None
    hangup_cause: int | None = None


def instant(value: str) -> datetime | None:
    """A time from the dialplan or the CDR: a UTC stamp (`${STRFTIME(,UTC,%Y-%m-%dT%H:%M:%S.%3q)}`,
    extensions.conf) or seconds since the epoch (`${CDR(start,u)}`, and the `%s.%3q` of older
    dialplans); 0, empty or anything else: none.

    Not `%s` any more: Asterisk's STRFTIME breaks the time down in /etc/localtime's zone, and the
    C library's `%s` reads it back in the process's TZ. Where the two differ (TZ=Asia/Shanghai in a
    container whose /etc/localtime is UTC) every emergency call was stored 8 hours off."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            stamp = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return None
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    if not 0 < seconds < 1e11:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def endpoint_of(channel: str) -> str:
    """`PJSIP/1001-0000002a` → `1001`: the line, as `${CHANNEL(endpoint)}` names it."""
    if not channel.startswith("PJSIP/"):
        return ""
    return channel[len("PJSIP/") :].rsplit("-", 1)[0]


def parse_cdr_row(fields: Sequence[str]) -> DialplanCall | None:
    """A row of cdr-custom/callguard.csv; None when it is not a call the dialplan handled alone.
    ValueError: not a row of that format."""
    if len(fields) < len(CDR_COLUMNS) or not fields[0]:
        raise ValueError(f"expected {len(CDR_COLUMNS)} columns, got {len(fields)}")
    row = dict(zip(CDR_COLUMNS, fields, strict=False))
    kind = CDR_MARKS.get(row["userfield"].strip())
    if kind is None:
        return None
    answered = instant(row["answer"])
    peer = row["dstchannel"] or None
    # Neither answered nor dialled anyone: the dialplan refused it.
    refused = answered is None and peer is None
    disposition = "refused" if refused else q850.cdr_disposition(row["disposition"])
    return DialplanCall(
        call_id=row["uniqueid"],
        kind=kind,
        line=endpoint_of(row["channel"]),
        caller_id=row["src"],
        dialed=row["cg_dialed"] or row["dst"],
        started_at=instant(row["start"]),
        answered_at=answered,
        ended_at=instant(row["end"]),
        disposition=disposition,
        source="cdr",
        peer_channel=peer,
    )


def merge(calls: Sequence[DialplanCall]) -> DialplanCall:
    """Several CDR rows of one call (Asterisk starts a new row after a Dial() ends and the
    dialplan goes on): the first start, the answered row's party, the last end."""
    first = calls[0]
    if len(calls) == 1:
        return first
    answered = [c for c in calls if c.answered_at is not None]
    main = answered[0] if answered else calls[-1]
    starts = [c.started_at for c in calls if c.started_at]
    ends = [c.ended_at for c in calls if c.ended_at]
    return replace(
        main,
        started_at=min(starts) if starts else None,
        ended_at=max(ends) if ends else None,
        peer_channel=main.peer_channel or next((c.peer_channel for c in calls if c.peer_channel), None),
    )


class DialplanRecords:
    """Turns a `DialplanCall` into the record callguard would have written."""

    def __init__(
        self, directory: Directory, outbound: OutboundSettings, node: str, rate: Rate | None = None
    ) -> None:
        self._directory = directory
        self._node = node
        self._trunk = outbound.trunk
        self._rate = rate
        self._plan = NumberPlan(
            outbound.number_rules,
            outbound.access_code,
            outbound.emergency_numbers,
            Numbering(outbound.numbering),
        )

    def _caller(self, call: DialplanCall) -> Party:
        # calling_party's rule: a known line is its owner; anything else is only a number.
        if call.line and self._directory.lookup(call.line) is not None:
            return self._directory.party(call.line)
        return Party(number=call.caller_id or call.line)

    def _route(self, call: DialplanCall) -> tuple[str, Party, Party, str | None]:
        """direction, caller, callee, number class."""
        if call.kind == EMERGENCY:
            number = self._plan.classify(call.dialed).number
            return "outbound", self._caller(call), Party(number=number), "emergency"
        if call.line == self._trunk:
            return "inbound", Party(number=call.caller_id), self._directory.party(call.dialed), None
        caller = self._caller(call)
        if self._directory.lookup(call.dialed) is None and self._plan.wants_outside_line(call.dialed):
            classified = self._plan.classify(call.dialed)
            return "outbound", caller, Party(number=classified.number), classified.number_class
        return "internal", caller, self._directory.party(call.dialed), None

    def _legs(self, call: DialplanCall, caller: Party, callee: Party) -> list[LegRecord]:
        is_line = bool(call.line) and call.line != self._trunk
        legs = [
            LegRecord(
                role="caller",
                channel_id=call.call_id,
                number=call.line if is_line else caller.number,
                started_at=call.started_at,
                ended_at=call.ended_at,
                hangup_cause=call.hangup_cause,
            )
        ]
        if call.peer_channel:
            answered, ended = call.answered_at, call.ended_at
            legs.append(
                LegRecord("callee", call.peer_channel, callee.number, answered_at=answered, ended_at=ended)
            )
        return legs

    def record(self, call: DialplanCall) -> CallRecord:
        direction, caller, callee, number_class = self._route(call)
        is_line = bool(call.line) and call.line != self._trunk
        decision = (
            {"action": "dial_out", "reason": "emergency", "rule": "OUT-6"}
            if call.kind == EMERGENCY
            else {"action": "failsafe", "reason": "callguard_not_connected", "rule": "LOG-1"}
        )
        record = CallRecord(
            call_id=call.call_id,
            node=self._node,
            direction=direction,
            dialed=call.dialed,
            caller=caller,
            callee=callee,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            disposition=call.disposition,
            hangup_cause=call.hangup_cause,
            decisions=[{**decision, "by": DIALPLAN, "source": call.source}],
            legs=self._legs(call, caller, callee),
            number_class=number_class,
            line=call.line if is_line else None,
            handled_by=DIALPLAN,
        )
        self._price(record)
        return record

    def _price(self, record: CallRecord) -> None:
        """LOG-4: an answered outside call costs what the tariff says, whoever handled it."""
        if self._rate is None or record.direction != "outbound" or record.number_class in (None, "emergency"):
            return
        talk, at = record.talk_s, record.answered_at
        if talk is None or at is None or record.callee is None:
            return
        rated = self._rate(record.callee.number, record.number_class or "", at, talk)
        if rated is not None:
            record.cost, record.tariff = rated
