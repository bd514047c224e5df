"""LOG-3 and SEC-2 in one place (callguard/web/access.py): each role's reach for each kind of
data, a head's departments from the org chart, and which numbers a viewer sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from callguard.config import ConfigError, load_config
from callguard.policy.masking import mask_fields, mask_text
from callguard.store.models import CallRow, ViolationRow
from callguard.web.access import (
    MATRIX,
    WHATS,
    Org,
    Reach,
    calls_where,
    make_viewer,
    mask,
    mask_record,
    people_where,
    scope,
)
from tests.console import PROJECT, console_config


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    return Org(console_config(tmp_path_factory.mktemp("org")))


def viewer(org: Org, person: str, role: str) -> Any:
    return make_viewer(org, person, role, "127.0.0.1", engine=None, csrf=None)


# The README's matrix, cell by cell (what | admin auditor finance head employee operations).
README_MATRIX = """
calls      | all all         all         departments own     refused
costs      | all all         all         departments own     refused
bills      | all all         all         departments refused refused
violations | all all         refused     departments own     refused
messages   | all all         refused     departments own     refused
reports    | all all         refused     departments refused refused
recordings | all all         refused     refused     refused refused
wallboard  | all all         refused     departments refused all
audit      | all all         refused     refused     refused refused
"""


def test_the_matrix_is_the_one_the_readme_documents() -> None:
    roles = ("admin", "auditor", "finance", "head", "employee", "operations")
    table = {}
    for line in README_MATRIX.strip().splitlines():
        what, reaches = line.split("|")
        table[what.strip()] = dict(zip(roles, reaches.split(), strict=True))
    assert set(table) == set(WHATS)
    assert {role: {what: MATRIX[role][what].value for what in WHATS} for role in roles} == {
        role: {what: table[what][role] for what in WHATS} for role in roles
    }
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    matrix = readme[readme.index("| data | admin | auditor | finance | head | employee | operations |") :]
    for what in WHATS:  # the README's table says the same, row by row
        line = next(x for x in matrix.splitlines() if x.startswith(f"| {what} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert dict(zip(roles, cells[1:], strict=True)) == table[what], what


def test_a_head_reaches_the_departments_the_org_chart_names(org: Org) -> None:
    head = scope(viewer(org, "liu.yang", "head"), "calls")
    assert head.reach is Reach.departments
    assert head.departments == {"sales"}
    assert head.people == {"liu.yang", "sun.hui", "zhou.qiang", "wu.fang"}
    assert head.extensions == {"2001", "2002", "2003", "2004"}


def test_a_head_role_without_a_department_in_the_org_chart_reaches_nothing(org: Org) -> None:
    # chen.jie heads nothing: an account made when he did, or a directory changed since.
    assert scope(viewer(org, "chen.jie", "head"), "calls").refused


def test_an_employee_reaches_their_own_person_and_lines(org: Org) -> None:
    own = scope(viewer(org, "chen.jie", "employee"), "violations")
    assert (own.reach, own.people, own.extensions) == (Reach.own, {"chen.jie"}, {"1003"})
    assert scope(viewer(org, "chen.jie", "employee"), "bills").refused


def test_an_unknown_role_or_kind_of_data_is_refused(org: Org) -> None:
    assert scope(viewer(org, "wang.li", "superuser"), "calls").refused
    assert scope(viewer(org, "wang.li", "admin"), "payroll").refused


def _sql(clause: Any) -> str:
    return str(
        select(CallRow.id)
        .where(clause)
        .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    )


def test_scopes_become_where_clauses(org: Org) -> None:
    columns = (
        CallRow.caller_number,
        CallRow.callee_number,
        CallRow.caller_department,
        CallRow.callee_department,
    )
    everything = _sql(calls_where(scope(viewer(org, "he.gang", "auditor"), "calls"), *columns))
    assert "WHERE 1 = 1" in everything or "WHERE true" in everything.lower()
    head = _sql(calls_where(scope(viewer(org, "liu.yang", "head"), "calls"), *columns))
    assert "caller_department IN ('sales')" in head and "callee_department IN ('sales')" in head
    own = _sql(calls_where(scope(viewer(org, "chen.jie", "employee"), "calls"), *columns))
    assert "caller_number IN ('1003')" in own and "callee_number IN ('1003')" in own
    refused = _sql(calls_where(scope(viewer(org, "ma.lin", "operations"), "calls"), *columns))
    assert "WHERE 0 = 1" in refused or "false" in refused.lower()
    people = str(
        select(ViolationRow.id)
        .where(people_where(scope(viewer(org, "chen.jie", "employee"), "violations"), ViolationRow.person))
        .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    )
    assert "person IN ('chen.jie')" in people


@pytest.mark.parametrize(
    ("role", "shown"),
    [("admin", "13800138000"), ("auditor", "13800138000"), ("finance", "138****8000"),
     ("head", "138****8000"), ("employee", "138****8000"), ("operations", "138****8000")],
)  # fmt: skip
def test_sec2_outside_numbers_are_masked_for_roles_without_the_right(org: Org, role: str, shown: str) -> None:
    who = viewer(org, "wang.li", role)
    assert mask(who, "13800138000") == shown
    assert mask(who, "1003") == "1003"  # extensions stay readable
    assert mask(who, "110") == "110"  # so do emergency numbers
    assert mask(who, None) == ""


def test_sec2_masking_reaches_into_nested_records(org: Org) -> None:
    record = {
        "caller": {"number": "13800138000", "name": "x"},
        "callee": {"number": "1003"},
        "dialed": "013800138000",
        "decisions": [{"action": "dial_out", "number": "013800138000", "reason": "allowed"}],
        "legs": [{"number": "13800138000", "channel_id": "1700000000.12"}],
        "talk_s": 12,
    }
    masked = mask_record(viewer(org, "chen.jie", "employee"), record)
    assert masked["caller"] == {"number": "138****8000", "name": "x"}
    assert masked["callee"] == {"number": "1003"}
    assert masked["dialed"] == masked["decisions"][0]["number"] == "013*****8000"
    assert masked["legs"][0] == {"number": "138****8000", "channel_id": "1700000000.12"}
    assert "13800138000" not in str(masked)
    assert mask_record(viewer(org, "he.gang", "auditor"), record) == record


def test_which_roles_see_numbers_is_configurable(tmp_path: Path) -> None:
    org = Org(console_config(tmp_path, unmasked_roles=("admin", "finance")))
    assert mask(viewer(org, "zhao.min", "finance"), "13800138000") == "13800138000"
    assert mask(viewer(org, "he.gang", "auditor"), "13800138000") == "138****8000"


def test_a_head_must_be_a_person_of_the_directory(tmp_path: Path) -> None:
    directory = (PROJECT / "config" / "directory.toml").read_text(encoding="utf-8")
    (tmp_path / "directory.toml").write_text(directory.replace('head = "liu.yang"', 'head = "li.lei"'))
    (tmp_path / "callguard.toml").write_text('[service]\ndirectory = "directory.toml"\n')
    with pytest.raises(ConfigError) as err:
        load_config(
            tmp_path / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
        )
    assert any("departments[1].head: unknown person 'li.lei'" in p for p in err.value.problems)


def test_an_unknown_role_in_unmasked_roles_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "directory.toml").write_text(
        (PROJECT / "config" / "directory.toml").read_text(encoding="utf-8")
    )
    (tmp_path / "callguard.toml").write_text('[console]\nunmasked_roles = ["admin", "boss"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(
            tmp_path / "callguard.toml", {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}
        )
    assert any("console.unmasked_roles" in p and "boss" in p for p in err.value.problems)


@pytest.mark.parametrize(
    ("shown_as", "masked"),
    [
        ("+86 138 0013 8000", "+86*******8000"),  # an unusual form is still a number (review F4)
        ("(010) 6234 5678", "010****5678"),
        ("138-0013-8000", "***-****-****"),  # anything else with digits: every digit hidden
        ("anonymous", "anonymous"),  # no digits, nothing to hide
        ("1003", "1003"),
    ],
)
def test_sec2_masking_fails_closed_for_numbers_in_unusual_forms(org: Org, shown_as: str, masked: str) -> None:
    assert mask(viewer(org, "chen.jie", "employee"), shown_as) == masked
    assert mask(viewer(org, "he.gang", "auditor"), shown_as) == shown_as


def test_sec2_numbers_quoted_in_free_text_are_masked(org: Org) -> None:
    """Review F3: a violation's reason quotes the number dialled."""
    row = {
        "reason": "dialled premium-rate number 16812345678 from 1003 after 120 s",
        "call_id": "1700000000.12",
    }
    masked = mask_record(viewer(org, "chen.jie", "employee"), row)
    assert masked["reason"] == "dialled premium-rate number 168****5678 from 1003 after 120 s"
    assert masked["call_id"] == "1700000000.12"  # ids are not numbers to hide
    assert mask_record(viewer(org, "he.gang", "auditor"), row) == row


def test_sec2_numbers_in_free_text_are_masked_in_logs_and_mqtt_too(org: Org) -> None:
    fields = {"event": "call.violation", "rule": "OUT-1", "reason": "dialled premium-rate number 16812345678"}
    assert mask_fields(fields, org.keep)["reason"] == "dialled premium-rate number 168****5678"
    assert mask_text("call 95588 or 110, ext 10033", lambda n: n == "10033") == "call ***88 or 110, ext 10033"


def test_sec2_a_violation_rows_reason_is_masked(org: Org) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from callguard.web.call_rows import violation_row

    row = ViolationRow(
        id=1, call_id="c", node="n", rule="OUT-1", extension="2003", person="zhou.qiang",
        reason="dialled premium-rate number 16812345678", fine_yuan=Decimal("50"), severity="serious",
        at=datetime(2026, 11, 23, tzinfo=UTC), step="fine", status="open", appeal_by=None,
    )  # fmt: skip
    assert (
        violation_row(row, viewer(org, "liu.yang", "head"))["reason"]
        == "dialled premium-rate number 168****5678"
    )
    assert violation_row(row, viewer(org, "wang.li", "admin"))["reason"] == row.reason
