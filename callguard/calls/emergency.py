"""OUT-6: emergency calls never wait for callguard (the dialplan dials them itself); the
dialplan reports them as AMI UserEvents and callguard turns those into call records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from callguard.calls.records import CallRecord, LegRecord
from callguard.policy import Directory, Party

USER_EVENT = "CallguardEmergency"

_DISPOSITIONS = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "abandoned",
    "CONGESTION": "unavailable",
    "CHANUNAVAIL": "unavailable",
}


def _epoch(value: Any) -> datetime | None:
    """The dialplan's ${STRFTIME(,,%s.%3q)}: seconds since the epoch, with milliseconds."""
    try:
        return datetime.fromtimestamp(float(str(value)), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


class EmergencyCalls:
    """Handles the dialplan's `UserEvent(CallguardEmergency, Stage: start|end, ...)`."""

    def __init__(
        self,
        directory: Directory,
        node: str,
        emit: Callable[..., None],
        submit_record: Callable[[CallRecord], None],
    ) -> None:
        self._directory = directory
        self._node = node
        self._emit = emit
        self._submit = submit_record

    def on_user_event(self, message: Mapping[str, Any]) -> None:
        if message.get("UserEvent") != USER_EVENT:
            return
        call_id = str(message.get("CallId") or "")
        line, number = str(message.get("Line") or ""), str(message.get("Number") or "")
        if not call_id:
            return
        if message.get("Stage") == "start":
            # Security staff want to know at once, not when the call ends.
            self._emit("call.emergency", call_id=call_id, ext=line, dialed=number, rule="OUT-6")
            return
        started, ended = _epoch(message.get("Start")), _epoch(message.get("End"))
        talk_ms = str(message.get("AnsweredMs") or "")
        answered = (
            ended - timedelta(milliseconds=int(talk_ms))
            if ended and talk_ms.isdigit() and talk_ms != "0"
            else None
        )
        status = str(message.get("DialStatus") or "")
        record = CallRecord(
            call_id=call_id,
            node=self._node,
            direction="outbound",
            dialed=number,
            caller=self._directory.party(line),
            callee=Party(number=number),
            started_at=started,
            answered_at=answered,
            ended_at=ended,
            disposition=_DISPOSITIONS.get(status, status.lower() or "unknown"),
            hangup_by=None,
            decisions=[{"action": "dial_out", "reason": "emergency", "rule": "OUT-6", "by": "dialplan"}],
            legs=[
                LegRecord(role="caller", channel_id=call_id, number=line, started_at=started, ended_at=ended)
            ],
            number_class="emergency",
        )
        self._submit(record)
        self._emit(
            "call.ended",
            call_id=call_id,
            ext=line,
            disposition=record.disposition,
            talk_s=record.talk_s,
            rule="OUT-6",
        )
