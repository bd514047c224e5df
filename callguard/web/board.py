"""The wallboard's live picture, built from callguard's events alone: calls ringing and talking per
department, today's answering within the ring limit (ANS-1, LOG-6), recent violations and alerts."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from callguard.reports.bills import Who
from callguard.reports.compliance import Answering, compliance

Row = dict[str, Any]
RECENT = 20  # violations and alerts kept for the board
# Call events that change what the board shows; the rest (prompts, dialing...) are ignored.
SHOWN = {"started", "readopted", "ringing", "answered", "violation", "transferred", "ended"}


@dataclass
class LiveCall:
    """One call in progress as the events told it (MQTT numbers arrive masked when configured)."""

    call_id: str
    node: str
    since: datetime
    direction: str = ""
    caller: str = ""
    dialed: str = ""
    state: str = "setup"  # ringing | talking (other states are not shown)
    ext: str = ""  # the phone ringing or talking (for an outside call: the caller's extension)
    ringing: dict[str, datetime] = field(default_factory=dict)  # extension -> ringing since
    answered: tuple[str, int | None, datetime] | None = None  # extension, rings, when
    violations: list[Row] = field(default_factory=list)


def _add(total: Answering, more: Answering) -> None:
    for f in fields(Answering):
        if f.name == "rings":
            for rings, n in more.rings.items():
                total.rings[rings] = total.rings.get(rings, 0) + n
        else:
            setattr(total, f.name, getattr(total, f.name) + getattr(more, f.name))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


class Board:
    """`apply()` each event as it arrives, `view()` for each viewer; `today` is per department.

    Today's figures are LOG-6's own definition (`reports.compliance`), fed at start-up with the
    day's records from the database and then with each ended call rebuilt from its events."""

    def __init__(
        self,
        who: Mapping[str, Who],
        department_names: Mapping[str, str],
        rings_of: Callable[[str], int],
        cadence_s: float,
    ) -> None:
        self.who, self.names = who, department_names
        self.rings_of, self.cadence_s = rings_of, cadence_s
        self.calls: dict[str, LiveCall] = {}
        self.today: dict[str, Answering] = {}
        self.day: date | None = None
        self.loaded: set[str] = set()  # calls the start-up read counted: their events replay
        self.violations: deque[Row] = deque(maxlen=RECENT)
        self.alerts: deque[Row] = deque(maxlen=RECENT)
        self.controllers: dict[str, str] = {}  # node -> online/offline (its MQTT status topic)

    # --- today's answering (LOG-6) -------------------------------------------------------------

    def load_today(self, day: date, calls: list[Row]) -> None:
        """The day's ended calls from the database (`store.archive.read_calls`), once at start."""
        self.day, self.today = day, {}
        ended = [c for c in calls if c.get("disposition") not in (None, "in_progress")]
        # Subscribed before this read: a call that ended in between is in both; count it once.
        self.loaded = {str(c.get("call_id")) for c in ended}
        self._count(ended)

    def _count(self, calls: list[Row]) -> None:
        for figures in compliance("today", calls, people=dict(self.who)).departments:
            _add(self.today.setdefault(figures.key, Answering()), figures.answering)

    def _roll_day(self, at: datetime) -> None:
        day = at.astimezone().date()  # the office's day, local
        if self.day != day:
            self.day, self.today = day, {}

    # --- events -----------------------------------------------------------------------------------

    def set_status(self, node: str, status: str) -> None:
        self.controllers[node] = status

    def apply(self, event: Row, at: datetime) -> bool:
        """One event (an MQTT payload); True when the board changed."""
        name = str(event.get("event", ""))
        group, _, what = name.partition(".")
        self._roll_day(at)
        if group == "alert":
            self.alerts.appendleft({**_clean(event), "alert": what, "at": at.isoformat()})
            return True
        call_id = event.get("call_id")
        if group != "call" or what not in SHOWN or not call_id:
            return False
        call = self.calls.get(str(call_id))
        if call is None:
            if what in ("ended", "violation"):
                return self._orphan(what, event, at)
            call = self.calls[str(call_id)] = LiveCall(str(call_id), str(event.get("node", "")), at)
        getattr(self, f"_on_{what}")(call, event, at)
        return True

    def _orphan(self, what: str, event: Row, at: datetime) -> bool:
        """A violation or end of a call that started before this board did."""
        if what == "violation":
            self.violations.appendleft({**_clean(event), "at": at.isoformat()})
            return True
        return False

    def _on_started(self, call: LiveCall, event: Row, at: datetime) -> None:
        call.direction = str(event.get("direction") or "")
        call.caller, call.dialed = str(event.get("caller") or ""), str(event.get("dialed") or "")

    def _on_readopted(self, call: LiveCall, event: Row, at: datetime) -> None:
        call.dialed = call.dialed or str(event.get("dialed") or "")
        call.caller = call.caller or str(event.get("ext") or "")
        if str(event.get("leg_state") or "").lower() == "up":  # Asterisk says "Up"
            call.state, call.since = "talking", at

    def _on_ringing(self, call: LiveCall, event: Row, at: datetime) -> None:
        ext = str(event.get("ext") or "")
        call.ringing.setdefault(ext, at)
        if call.state != "talking":
            call.state, call.ext, call.since = "ringing", ext, at

    def _on_answered(self, call: LiveCall, event: Row, at: datetime) -> None:
        ext = str(event.get("ext") or "")
        rings = event.get("rings")
        call.answered = (ext, int(rings) if rings is not None else None, at)
        call.state, call.ext, call.since = "talking", ext, at

    def _on_transferred(self, call: LiveCall, event: Row, at: datetime) -> None:
        call.ext = str(event.get("to") or call.ext)

    def _on_violation(self, call: LiveCall, event: Row, at: datetime) -> None:
        violation = {**_clean(event), "at": at.isoformat()}
        call.violations.append(violation)
        self.violations.appendleft(violation)

    def _on_ended(self, call: LiveCall, event: Row, at: datetime) -> None:
        del self.calls[call.call_id]
        if call.call_id not in self.loaded:
            self._count([self._as_record(call, str(event.get("disposition") or ""))])

    def _as_record(self, call: LiveCall, disposition: str) -> Row:
        """The ended call in the shape of a stored record, as far as LOG-6's figures read it."""
        answered_ext, rings, answered_at = call.answered or ("", None, None)
        legs = [
            {
                "role": "callee",
                "number": ext,
                "ringing_at": _iso(since),
                "answered_at": _iso(answered_at) if ext == answered_ext else None,
                "rings_at_answer": rings if ext == answered_ext else None,
            }
            for ext, since in call.ringing.items()
        ]
        return {
            "call_id": call.call_id,
            "direction": call.direction,
            "dialed": call.dialed,
            "caller_number": call.caller,
            "disposition": disposition,
            "answered_at": _iso(answered_at),
            "legs": legs,
            "violations": call.violations,
        }

    # --- what a viewer sees -----------------------------------------------------------------------

    def department_of(self, number: str) -> str | None:
        who = self.who.get(number)
        return who.department if who else None

    def departments_of(self, call: LiveCall) -> set[str]:
        numbers = [call.caller, call.ext, *call.ringing]
        return {d for d in map(self.department_of, numbers) if d}

    def view(self, departments: frozenset[str] | None, mask: Callable[[Row], Row]) -> Row:
        """The board for one viewer: `departments` None sees every department; `mask` hides the
        outside numbers the viewer may not read (SEC-2)."""

        def visible(numbers: list[str]) -> bool:
            return departments is None or any(self.department_of(n) in departments for n in numbers)

        calls = [c for c in self.calls.values() if c.state in ("ringing", "talking")]
        calls = [c for c in calls if departments is None or self.departments_of(c) & departments]
        known = set(self.today) | {d for c in calls for d in self.departments_of(c)} | set(self.names)
        shown = sorted(d for d in known if departments is None or d in departments)
        return {
            "cadence_s": self.cadence_s,
            "calls": [mask(self._call_row(c)) for c in sorted(calls, key=lambda c: c.since)],
            "departments": [self._department_row(d, calls) for d in shown],
            "violations": [mask(v) for v in self.violations if visible([str(v.get("extension", ""))])],
            "alerts": [
                mask(a) for a in self.alerts if departments is None or _alert_in(a, departments, self)
            ],
            "controllers": dict(self.controllers),
        }

    def _call_row(self, call: LiveCall) -> Row:
        department = self.department_of(call.ext) or self.department_of(call.caller)
        who = self.who.get(call.ext)
        limit = self.rings_of(call.ext) if call.ext in self.who and call.direction != "outbound" else None
        return {
            "call_id": call.call_id,
            "node": call.node,
            "state": call.state,
            "direction": call.direction,
            "ext": call.ext,
            "name": who.name if who else "",
            "department": department,
            "department_name": self.names.get(department or "", department),
            "caller": call.caller,
            "dialed": call.dialed,
            "since": call.since.isoformat(),
            "rings_limit": limit if call.state == "ringing" else None,
        }

    def _department_row(self, dept: str, calls: list[LiveCall]) -> Row:
        figures = self.today.get(dept, Answering())
        here = [c for c in calls if (self.department_of(c.ext) or self.department_of(c.caller)) == dept]
        rate = figures.in_limit_rate
        return {
            "id": dept,
            "name": self.names.get(dept, dept),
            "ringing": sum(c.state == "ringing" for c in here),
            "talking": sum(c.state == "talking" for c in here),
            "offered": figures.offered,
            "answered": figures.answered,
            "answered_in_limit": figures.answered_in_limit,
            "chances": figures.answered + figures.unanswered,  # the rate's denominator
            "in_limit_rate": str(rate) if rate is not None else None,
        }


def _clean(event: Row) -> Row:
    return {k: v for k, v in event.items() if k not in ("event",)}


def _alert_in(alert: Row, departments: frozenset[str], board: Board) -> bool:
    """A department head sees the alerts about their department's lines or budget only."""
    budget = str(alert.get("budget") or "")
    if budget.startswith("department:") and budget.removeprefix("department:") in departments:
        return True
    return board.department_of(str(alert.get("ext") or "")) in departments
