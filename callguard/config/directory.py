"""directory.toml: departments, people and lines, and when departments work (ANS-7)."""

from __future__ import annotations

from pydantic import Field

from callguard.config.base import HHMM, ID_MAX, NAME_MAX, Strict
from callguard.config.classes import LineKind, Role, ServiceClass


class OfficeHours(Strict):
    """ANS-7: when a department works (local time); `holidays` are whole days off."""

    days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays: 1 = Monday
    start: str = Field(default="08:30", pattern=HHMM)
    end: str = Field(default="17:30", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    holidays: tuple[str, ...] = ()  # "2026-10-01"
    # Outside the hours, outside calls go to the duty line(s), or hear the closed-office prompt.
    after_hours: str = Field(default="duty", pattern="^(duty|closed)$")


class Department(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=ID_MAX)
    name: str = Field(min_length=1, max_length=NAME_MAX)
    rings: int | None = Field(default=None, ge=1, le=20)  # ANS-1, default [answering] rings
    # ANS-3: the colleagues who cover an unanswered line of this department.
    hunt_group: tuple[str, ...] = ()
    hunt_mode: str = Field(default="all", pattern="^(all|order)$")
    office_hours: OfficeHours | None = None  # default [answering.office_hours]
    # LOG-3: the person (id) who heads it: the console's `head` role sees this department's records.
    head: str | None = None


class Person(Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$", max_length=ID_MAX)
    name: str = Field(min_length=1, max_length=NAME_MAX)
    department: str
    role: Role = Role.employee
    assistants: tuple[str, ...] = ()
    class_of_service: ServiceClass | None = None  # overrides [outbound.class_by_role]
    # XFER-1: outside numbers that reach this manager directly, not through the assistant.
    bypass_numbers: tuple[str, ...] = ()


class Line(Strict):
    extension: str = Field(pattern=r"^[0-9]{2,8}$")
    kind: LineKind = LineKind.desk
    person: str | None = None
    department: str | None = None
    label: str | None = Field(default=None, max_length=NAME_MAX)  # the name of a line without a person
    class_of_service: ServiceClass | None = None  # overrides the person's class
    rings: int | None = Field(default=None, ge=1, le=20)  # ANS-1, default the department's
    covered_by: tuple[str, ...] = ()  # ANS-3: named colleagues' extensions, rung after this line
    rollover: bool = True  # False: this line rings on past its limit (ANS-2 then applies)


class DirectoryConfig(Strict):
    company: str = Field(min_length=1)  # names whose directory this is; callguard decides nothing by it
    departments: tuple[Department, ...] = ()
    people: tuple[Person, ...] = ()
    lines: tuple[Line, ...] = ()
