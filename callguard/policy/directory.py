"""Directory lookups: extension or number → the party behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from callguard.config import Department, DirectoryConfig, Line, Person


@dataclass(frozen=True, slots=True)
class Party:
    """One end of a call as the records show it."""

    number: str
    name: str | None = None
    department: str | None = None
    department_name: str | None = None
    person: str | None = None
    line_kind: str | None = None
    internal: bool = False

    def as_dict(self) -> dict[str, str | bool | None]:
        return asdict(self)


class Directory:
    """Read-only index of the company directory."""

    def __init__(self, config: DirectoryConfig) -> None:
        departments = {d.id: d for d in config.departments}
        people = {p.id: p for p in config.people}
        self._people = people
        self._departments = departments
        self._lines = {line.extension: line for line in config.lines}
        self._by_extension: dict[str, Party] = {}
        for line in config.lines:
            person = people.get(line.person) if line.person else None
            dept_id = line.department or (person.department if person else None)
            dept = departments.get(dept_id) if dept_id else None
            self._by_extension[line.extension] = Party(
                number=line.extension,
                name=person.name if person else (line.label or (dept.name if dept else None)),
                department=dept_id,
                department_name=dept.name if dept else None,
                person=person.id if person else None,
                line_kind=line.kind.value,
                internal=True,
            )

    def extensions(self) -> list[str]:
        return sorted(self._by_extension)

    def line(self, extension: str) -> Line | None:
        return self._lines.get(extension)

    def department(self, department_id: str | None) -> Department | None:
        return self._departments.get(department_id) if department_id else None

    def person(self, person_id: str | None) -> Person | None:
        return self._people.get(person_id) if person_id else None

    def lookup(self, number: str) -> Party | None:
        return self._by_extension.get(number)

    def party(self, number: str) -> Party:
        """The directory entry, or an outside party that is only a number."""
        return self._by_extension.get(number) or Party(number=number)
