"""Live records of calls the dialplan handles alone (LOG-1), from its AMI UserEvents:
`UserEvent(CallguardDialplan, Stage: start|end, Kind: emergency|degraded, ...)` sent by
callguard-dialplan-start / callguard-dialplan-end (dialplan/extensions.conf). Emergency calls
(OUT-6) never wait for callguard; degraded ones are those Stasis() could not hand over (ARI
not connected while AMI is)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from callguard.dialplan_calls.mapping import (
    EMERGENCY,
    DialplanCall,
    DialplanRecords,
    instant,
)
from callguard.policy import q850
from callguard.records import CallRecord

USER_EVENT = "CallguardDialplan"


def _text(message: Mapping[str, Any], key: str) -> str:
    return str(message.get(key) or "")


def _cause(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def call_from_event(message: Mapping[str, Any]) -> DialplanCall | None:
    """The `Stage: end` UserEvent → the call it describes (None if it names no call)."""
    call_id = _text(message, "CallId")
    if not call_id:
        return None
    started, ended = instant(_text(message, "Start")), instant(_text(message, "End"))
    talk_ms = _text(message, "AnsweredMs")
    answered = (
        ended - timedelta(milliseconds=int(talk_ms))
        if ended and talk_ms.isdigit() and talk_ms != "0"
        else None
    )
    status, cause = _text(message, "DialStatus"), _cause(_text(message, "Cause"))
    # No Dial() status: the dialplan refused the call with `cause`.
    disposition = q850.dial_status(status) if status else q850.dialplan_refusal(cause)
    return DialplanCall(
        call_id=call_id,
        kind=_text(message, "Kind") or EMERGENCY,
        line=_text(message, "Line"),
        caller_id=_text(message, "From"),
        dialed=_text(message, "Number"),
        started_at=started,
        answered_at=answered,
        ended_at=ended,
        disposition=disposition,
        source="ami",
        hangup_cause=cause,
    )


class DialplanCalls:
    """Handles the dialplan's UserEvents: `call.emergency` at the start of an emergency call
    (security staff want to know at once), one record and `call.dialplan` at the end."""

    def __init__(
        self, records: DialplanRecords, emit: Callable[..., None], submit_record: Callable[[CallRecord], None]
    ) -> None:
        self._records = records
        self._emit = emit
        self._submit = submit_record

    def on_user_event(self, message: Mapping[str, Any]) -> None:
        if message.get("UserEvent") != USER_EVENT:
            return
        if message.get("Stage") == "start":
            if message.get("Kind") == EMERGENCY and message.get("CallId"):
                self._emit(
                    "call.emergency",
                    call_id=_text(message, "CallId"),
                    ext=_text(message, "Line"),
                    dialed=_text(message, "Number"),
                    rule="OUT-6",
                )
            return
        call = call_from_event(message)
        if call is None:
            return
        record = self._records.record(call)
        self._submit(record)
        rule = "OUT-6" if call.kind == EMERGENCY else "LOG-1"
        fields = {"call_id": call.call_id, "ext": call.line, "disposition": record.disposition}
        self._emit(
            "call.dialplan",
            **fields,
            kind=call.kind,
            direction=record.direction,
            dialed=record.dialed,
            talk_s=record.talk_s,
            rule="LOG-1",
        )
        self._emit("call.ended", **fields, talk_s=record.talk_s, rule=rule)
