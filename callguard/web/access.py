"""Who may read what (LOG-3) and which numbers they see (SEC-2): the console's one place for both.

Every read path goes route → `scope()` → a query narrowed by `calls_where()`/`people_where()`
→ `mask_record()` → `audit.record()`; pages, the JSON API, CSV exports and the wallboard alike."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from callguard.config import Config
from callguard.policy.masking import TEXT_FIELDS, mask_number, mask_text, number_keeper


class Reach(StrEnum):
    all = "all"
    departments = "departments"  # the departments the viewer heads
    own = "own"  # the viewer's own person and lines
    refused = "refused"


A, D, OWN, R = Reach.all, Reach.departments, Reach.own, Reach.refused
WHATS = ("calls", "costs", "bills", "violations", "messages", "reports", "recordings", "wallboard", "audit")

# LOG-3, the role × data matrix (README "The console"): one row per role, one column per `WHATS`.
MATRIX: dict[str, dict[str, Reach]] = {
    #              calls costs bills viol. msgs reports rec. wallb. audit
    "admin": dict(zip(WHATS, (A, A, A, A, A, A, A, A, A), strict=True)),
    "auditor": dict(zip(WHATS, (A, A, A, A, A, A, A, A, A), strict=True)),
    "finance": dict(zip(WHATS, (A, A, A, R, R, R, R, R, R), strict=True)),
    "head": dict(zip(WHATS, (D, D, D, D, D, D, R, D, R), strict=True)),
    "employee": dict(zip(WHATS, (OWN, OWN, R, OWN, OWN, R, R, R, R), strict=True)),
    "operations": dict(zip(WHATS, (R, R, R, R, R, R, R, A, R), strict=True)),
}
ROLES = tuple(MATRIX)


class Org:
    """The org chart as access needs it: who heads what, whose lines are whose; built once."""

    def __init__(self, config: Config) -> None:
        directory = config.directory
        self.people = {p.id: p for p in directory.people}
        self.heads: dict[str, frozenset[str]] = {}
        for dept in directory.departments:
            if dept.head:
                self.heads[dept.head] = self.heads.get(dept.head, frozenset()) | {dept.id}
        self.lines_of: dict[str, set[str]] = {}  # person id -> extensions
        self.lines_in: dict[str, set[str]] = {}  # department id -> extensions
        for line in directory.lines:
            person = self.people.get(line.person) if line.person else None
            dept_id = line.department or (person.department if person else None)
            if person:
                self.lines_of.setdefault(person.id, set()).add(line.extension)
            if dept_id:
                self.lines_in.setdefault(dept_id, set()).add(line.extension)
        self.keep: Callable[[str], bool] = number_keeper(config)  # SEC-2: what stays readable
        self.unmasked_roles = frozenset(config.console.unmasked_roles)

    def departments_of(self, person_id: str, role: str) -> frozenset[str]:
        if role == "head":
            return self.heads.get(person_id, frozenset())
        person = self.people.get(person_id)
        return frozenset({person.department}) if person else frozenset()

    def members(self, departments: frozenset[str]) -> frozenset[str]:
        return frozenset(p.id for p in self.people.values() if p.department in departments)


@dataclass(frozen=True)
class Viewer:
    """Someone signed in (a session or an API token), as every read path sees them."""

    account: str
    person_id: str
    role: str
    departments: frozenset[str]
    sees_numbers: bool
    address: str
    org: Org = field(compare=False, repr=False)
    engine: Any = field(compare=False, repr=False)  # the AsyncEngine the audit is written to
    csrf: str | None = field(default=None, compare=False, repr=False)  # None: an API token


def make_viewer(org: Org, account: str, role: str, address: str, engine: Any, csrf: str | None) -> Viewer:
    return Viewer(
        account=account,
        person_id=account,
        role=role,
        departments=org.departments_of(account, role),
        sees_numbers=role in org.unmasked_roles,
        address=address,
        org=org,
        engine=engine,
        csrf=csrf,
    )


@dataclass(frozen=True)
class Scope:
    """What a viewer may read of one kind of data: everything, some people and lines, or nothing."""

    reach: Reach
    departments: frozenset[str] = frozenset()
    people: frozenset[str] = frozenset()
    extensions: frozenset[str] = frozenset()

    @property
    def refused(self) -> bool:
        return self.reach is Reach.refused

    @property
    def everything(self) -> bool:
        return self.reach is Reach.all


def scope(viewer: Viewer, what: str) -> Scope:
    """LOG-3: the viewer's reach for `what` (one of WHATS); an unknown role or kind is refused."""
    reach = MATRIX.get(viewer.role, {}).get(what, Reach.refused)
    org = viewer.org
    if reach is Reach.departments:
        if not viewer.departments:  # the directory no longer names them head of anything
            return Scope(Reach.refused)
        exts = frozenset().union(*(org.lines_in.get(d, set()) for d in viewer.departments))
        return Scope(reach, viewer.departments, org.members(viewer.departments), exts)
    if reach is Reach.own:
        exts = frozenset(org.lines_of.get(viewer.person_id, set()))
        return Scope(reach, frozenset(), frozenset({viewer.person_id}), exts)
    return Scope(reach)


def calls_where(
    scope_: Scope, caller_number: Any, callee_number: Any, caller_department: Any, callee_department: Any
) -> ColumnElement[bool]:
    """The scope as a WHERE clause on call rows (either end of the call counts)."""
    if scope_.everything:
        return true()
    if scope_.reach is Reach.departments:
        return or_(caller_department.in_(scope_.departments), callee_department.in_(scope_.departments))
    if scope_.reach is Reach.own and scope_.extensions:
        return or_(caller_number.in_(scope_.extensions), callee_number.in_(scope_.extensions))
    return false()


def people_where(scope_: Scope, person: Any, extension: Any | None = None) -> ColumnElement[bool]:
    """The scope as a WHERE clause on rows that belong to a person (violations, messages, reports):
    by person id, or by the extension when the row has one (a message for a line)."""
    if scope_.everything:
        return true()
    if scope_.refused:
        return false()
    clause = person.in_(scope_.people)
    return or_(clause, extension.in_(scope_.extensions)) if extension is not None else clause


def mask(viewer: Viewer, number: str | None) -> str:
    """SEC-2: an outside number as this viewer may see it (138****8000); extensions and
    emergency numbers stay readable. Fails closed: a number in an unusual form
    ("+86 138 0013 8000") is masked too, and digits in any other text."""
    if not number:
        return ""
    keep = viewer.org.keep
    if viewer.sees_numbers or keep(number):
        return number
    compact = _SEPARATORS.sub("", number)
    if _looks_like_number(compact):
        return compact if keep(compact) else mask_number(compact)
    # Anything else under a number's key: no digit of it is shown ("anonymous" has none).
    return _DIGIT.sub("*", number)


_SEPARATORS = re.compile(r"[\s()]")  # "+86 (138) 0013 8000"; a dashed one is starred whole
_DIGIT = re.compile(r"\d")


# Keys of records that may hold an outside party's number (calls, legs, decisions, messages...).
NUMBER_KEYS = frozenset(
    {
        "number", "dialed", "caller_number", "callee_number", "extension", "ext", "target", "targets",
        "to", "pattern", "caller", "callee", "for_ext", "transfer_to",
    }
)  # fmt: skip


def mask_record(viewer: Viewer, value: Any, key: str | None = None) -> Any:
    """A copy of a record (dicts, lists) with every outside number under NUMBER_KEYS masked,
    and the numbers quoted in free text (TEXT_KEYS: a violation's reason...)."""
    if viewer.sees_numbers:
        return value
    if isinstance(value, dict):
        return {k: mask_record(viewer, v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_record(viewer, v, key) for v in value]
    if isinstance(value, str) and key in NUMBER_KEYS:
        return mask(viewer, value)
    if isinstance(value, str) and key in TEXT_KEYS:
        return mask_text(value, viewer.org.keep)
    return value


TEXT_KEYS = TEXT_FIELDS | {"appeal_reason", "decision_reason", "detail"}


def _looks_like_number(text: str) -> bool:
    digits = text.lstrip("+")
    return len(digits) >= 3 and all(c.isdigit() or c in "*#" for c in digits)
