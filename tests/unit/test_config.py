"""Config validation: every problem is one `file: key: what is wrong` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callguard.config import ConfigError, LineKind, load_config

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"CALLGUARD_ARI_PASSWORD": "a", "CALLGUARD_AMI_PASSWORD": "b"}

GOOD_DIRECTORY = """
company = "Acme"
[[departments]]
id = "admin"
name = "Admin"
[[people]]
id = "boss"
name = "Boss"
department = "admin"
role = "manager"
assistants = ["help"]
[[people]]
id = "help"
name = "Helper"
department = "admin"
role = "assistant"
[[lines]]
extension = "1001"
person = "boss"
[[lines]]
extension = "1002"
person = "help"
"""


def write(tmp_path: Path, main: str, directory: str = GOOD_DIRECTORY) -> Path:
    (tmp_path / "directory.toml").write_text(directory)
    path = tmp_path / "callguard.toml"
    path.write_text(main)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path, ENV if env is None else env)
    return exc.value.problems


def test_shipped_example_config_is_valid() -> None:
    config = load_config(PROJECT / "config" / "callguard.toml", ENV)
    d = config.directory
    assert len(d.departments) >= 2 and len(d.lines) >= 10
    kinds = {line.kind for line in d.lines}
    assert {LineKind.front_desk, LineKind.alarm, LineKind.duty} <= kinds
    assert any(p.assistants for p in d.people)


def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    assert config.ari.url == "http://127.0.0.1:8088"
    # Records live in the state directory, not next to the (maybe read-only) config file.
    assert config.database.url == "sqlite+aiosqlite:////var/lib/callguard/callguard.db"
    assert config.database.journal == "/var/lib/callguard/callguard-journal.jsonl"


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\npassword = "in-file"\n')
    env = {**ENV, "CALLGUARD_ARI_PASSWORD": "from-env", "CALLGUARD_DATABASE_URL": "postgresql+asyncpg://x/y"}
    config = load_config(path, env)
    assert config.ari.password == "from-env"
    assert config.database.url == "postgresql+asyncpg://x/y"


def test_missing_password_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert problems(path, {}) == [
        f"{path}: ari.password: missing (set it here or in CALLGUARD_ARI_PASSWORD)",
        f"{path}: ami.password: missing (set it here or in CALLGUARD_AMI_PASSWORD)",
    ]


def test_unknown_key_and_bad_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\nurll = "x"\n[mqtt]\nport = 99999\n')
    found = problems(path)
    assert f"{path}: ari.urll: unknown key" in found
    assert any(p.startswith(f"{path}: mqtt.port: ") for p in found)


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[ari\n")
    [line] = problems(path)
    assert line.startswith(f"{path}: (syntax): ")


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.toml") == [f"{tmp_path / 'nope.toml'}: (file): not found"]


@pytest.mark.parametrize(
    ("directory_change", "expected"),
    [
        (('extension = "1002"', 'extension = "10a2"'), "lines[1].extension: String should match pattern"),
        (('extension = "1002"', 'extension = "1001"'), "lines[1].extension: duplicate extension '1001'"),
        (('person = "help"\n', 'person = "ghost"\n'), "lines[1].person: unknown person 'ghost'"),
        (
            ('assistants = ["help"]', 'assistants = ["nobody"]'),
            "people[0].assistants[0]: unknown person 'nobody'",
        ),
        (
            ('department = "admin"\nrole = "assistant"', 'department = "sales"\nrole = "assistant"'),
            "people[1].department: unknown department 'sales'",
        ),
        (
            ('role = "manager"', 'role = "employee"'),
            "people[0].assistants: only a manager or director has assistants",
        ),
        (('role = "manager"', 'role = "king"'), "people[0].role: Input should be"),
    ],
)
def test_directory_problems_name_file_and_key(
    tmp_path: Path, directory_change: tuple[str, str], expected: str
) -> None:
    old, new = directory_change
    assert old in GOOD_DIRECTORY
    path = write(tmp_path, "", GOOD_DIRECTORY.replace(old, new, 1))
    found = problems(path)
    assert any(p.startswith(f"{tmp_path / 'directory.toml'}: {expected}") for p in found), found


def test_check_config_command_prints_problems_and_fails(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\nurll = "x"\npassword = "p"\n[ami]\npassword = "q"\n')
    result = subprocess.run(
        [sys.executable, "-m", "callguard", "check-config", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}: ari.urll: unknown key"


def test_run_refuses_to_start_on_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\npassword = "p"\n[ami]\npassword = "q"\n[calls]\nno_answer_timeout_s = 0\n')
    result = subprocess.run(
        [sys.executable, "-m", "callguard", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(
        f"{path}: calls.no_answer_timeout_s: Input should be greater than or equal to 1"
    )
    assert lines[-1] == "callguard: refusing to start on a bad configuration"


def test_check_config_accepts_the_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callguard", "check-config", str(PROJECT / "config" / "callguard.toml")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
    )
    assert result.returncode == 0, result.stderr
    assert "ok (3 departments, 9 people, 11 lines)" in result.stdout


def test_outbound_problems_name_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """[outbound]
access_code = "9x"
class_by_role = { boss = "local" }
[outbound.durations.local]
limit_s = 60
warn_before_s = 60
[[outbound.quiet_hours]]
departments = ["nowhere"]
start = "25:00"
""",
    )
    found = problems(path)
    assert any(p.startswith(f"{path}: outbound.access_code: ") for p in found)
    assert any(p.startswith(f"{path}: outbound.class_by_role.boss") for p in found)
    assert any(p.startswith(f"{path}: outbound.quiet_hours[0].start: ") for p in found)
    fixed = path.read_text().replace('"9x"', '"0"').replace("boss", "manager").replace('"25:00"', '"12:00"')
    path.write_text(fixed)
    assert problems(path) == [
        f"{path}: outbound.quiet_hours[0].departments[0]: unknown department 'nowhere'",
        f"{path}: outbound.durations.local.warn_before_s: must be less than limit_s",
    ]


def test_pin_file_problems_are_named(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    digest = "a" * 64
    pins.write_text(
        f'salt = "{"0" * 32}"\n[[pins]]\nperson = "boss"\nhash = "{digest}"\n'
        f'[[pins]]\nperson = "ghost"\nhash = "{digest}"\n[[pins]]\nperson = "help"\nhash = "1234"\n'
    )
    path = write(tmp_path, '[outbound]\npins = "pins.toml"\n')
    assert problems(path) == [f"{pins}: pins[2].hash: String should match pattern '^[0-9a-f]{{64}}$'"]
    pins.write_text(pins.read_text().replace('hash = "1234"', f'hash = "{"b" * 64}"'))
    assert problems(path) == [
        f"{pins}: pins[1].person: unknown person 'ghost'",
        f"{pins}: pins[1].hash: two people share one PIN",
    ]
    (tmp_path / "pins.toml").unlink()
    assert problems(path) == [f"{pins}: (file): not found"]


def test_pin_set_command_writes_only_a_hash(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    run = [sys.executable, "-m", "callguard", "pin", "set", "boss", "--file", str(pins)]
    done = subprocess.run(run, input="864209\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "864209" not in pins.read_text() and 'person = "boss"' in pins.read_text()
    other = subprocess.run(
        [*run[:-3], "help", "--file", str(pins)], input="864209\n", capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 1 and "already has this PIN" in other.stderr
    short = subprocess.run(run, input="12\n", capture_output=True, text=True, timeout=60)
    assert short.returncode == 1 and "4 to 12 digits" in short.stderr
    path = write(tmp_path, '[outbound]\npins = "pins.toml"\n')
    assert load_config(path, ENV).pin_file is not None
