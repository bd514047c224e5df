"""Config validation: every problem is one `file: key: what is wrong` line."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callguard.config import ConfigError, LineKind, load_config
from callguard.config._models import PIN_HASH_PATTERN
from callguard.pinfile import read_pin_file as load_pin_entries
from callguard.pinfile import set_pin
from callguard.policy import verify_pin

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


ARI_PLACEHOLDER = (
    "ari.password: a placeholder (empty or CHANGE_ME): set the password of ari.conf here or in "
    "CALLGUARD_ARI_PASSWORD"
)
AMI_PLACEHOLDER = (
    "ami.password: a placeholder (empty or CHANGE_ME): set the secret of manager.conf here or in "
    "CALLGUARD_AMI_PASSWORD"
)


def test_missing_password_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert problems(path, {}) == [f"{path}: {ARI_PLACEHOLDER}", f"{path}: {AMI_PLACEHOLDER}"]


@pytest.mark.parametrize("placeholder", ["CHANGE_ME", "change_me", "Change_Me", "  ", ""])
def test_placeholder_passwords_are_refused(tmp_path: Path, placeholder: str) -> None:
    """The shipped ari.conf and manager.conf say CHANGE_ME: callguard must not run on it."""
    path = write(tmp_path, f'[ari]\npassword = "{placeholder}"\n[ami]\npassword = "{placeholder}"\n')
    assert problems(path, {}) == [f"{path}: {ARI_PLACEHOLDER}", f"{path}: {AMI_PLACEHOLDER}"]
    # The environment's value replaces the file's; a placeholder there is refused the same way.
    env = {"CALLGUARD_ARI_PASSWORD": "CHANGE_ME", "CALLGUARD_AMI_PASSWORD": "s3cret"}
    assert problems(path, env) == [f"{path}: {ARI_PLACEHOLDER}"]
    # A disabled AMI needs no password.
    path.write_text(f'[ari]\npassword = "x7"\n[ami]\nenabled = false\npassword = "{placeholder}"\n')
    assert load_config(path, {}).ari.password == "x7"


def test_check_config_and_run_refuse_a_placeholder_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\npassword = "CHANGE_ME"\n[ami]\npassword = "s3cret"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGUARD_")}
    for argv, code in ((["check-config", str(path)], 1), (["run", "--config", str(path)], 2)):
        done = subprocess.run(
            [sys.executable, "-m", "callguard", *argv], capture_output=True, text=True, timeout=60, env=env
        )
        assert done.returncode == code and f"{path}: {ARI_PLACEHOLDER}" in done.stderr.splitlines()


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


def _scrypt_hash(fill: str = "a") -> str:
    return f"scrypt$16384$8$1${fill * 32}${fill * 64}"


def test_pin_file_problems_are_named(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(
        f'[[pins]]\nperson = "boss"\nhash = "{_scrypt_hash()}"\n'
        f'[[pins]]\nperson = "ghost"\nhash = "{_scrypt_hash("b")}"\n'
        f'[[pins]]\nperson = "help"\nhash = "scrypt$1024$8$1${"c" * 32}${"c" * 64}"\n'
    )
    path = write(tmp_path, '[outbound]\npins = "pins.toml"\n')
    assert problems(path) == [
        f"{pins}: pins[2].hash: Value error, scrypt N must be a power of two from 16384 to 1048576"
    ]
    pins.write_text(pins.read_text().replace("scrypt$1024$", "scrypt$16384$").replace('"help"', '"boss"'))
    assert problems(path) == [
        f"{pins}: pins[1].person: unknown person 'ghost'",
        f"{pins}: pins[2].person: 'boss' has two PINs",
    ]
    (tmp_path / "pins.toml").unlink()
    assert problems(path) == [f"{pins}: (file): not found"]


def test_old_pin_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """The first format (one salt per file, PBKDF2): its PINs cannot be carried over."""
    pins = tmp_path / "pins.toml"
    pins.write_text(f'salt = "{"0" * 32}"\n[[pins]]\nperson = "boss"\nhash = "{"a" * 64}"\n')
    path = write(tmp_path, '[outbound]\npins = "pins.toml"\n')
    expected = (
        f"{pins}: salt: old PIN format (PBKDF2 under one salt): move this file away and set every PIN "
        f"again with `callguard pin set PERSON --file {pins}`"
    )
    assert problems(path) == [expected]
    done = _pin_set(pins, "boss", "864209")
    assert done.returncode == 1 and "old PIN format" in done.stderr


def test_the_shipped_pin_file_holds_no_pin() -> None:
    config = load_config(PROJECT / "config" / "callguard.toml", ENV)
    assert config.pin_file is not None and config.pin_file.pins == ()
    assert config.outbound.pin_min_digits == 6


def _pin_set(pins: Path, person: str, pin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    where = list(extra) or ["--file", str(pins)]
    run = [sys.executable, "-m", "callguard", "pin", "set", person, *where]
    return subprocess.run(run, input=f"{pin}\n", capture_output=True, text=True, timeout=60)


def test_pin_set_writes_only_salted_hashes_and_refuses_a_shared_pin(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    done = _pin_set(pins, "boss", "864209")
    assert done.returncode == 0, done.stderr
    text = pins.read_text()
    assert "864209" not in text and 'person = "boss"' in text
    [entry] = load_pin_entries(pins)
    assert re.fullmatch(PIN_HASH_PATTERN, entry.hash) and verify_pin("864209", entry.hash)
    # The code alone names its owner: nobody else may have it, though every salt differs.
    other = _pin_set(pins, "help", "864209")
    assert other.returncode == 1 and "another person already has this PIN" in other.stderr
    assert _pin_set(pins, "help", "864210").returncode == 0
    # Setting one's own PIN again replaces it (and may be the same code).
    assert _pin_set(pins, "boss", "864209").returncode == 0
    entries = load_pin_entries(pins)
    assert [e.person for e in entries] == ["boss", "help"] and entries[0].hash != entry.hash
    path = write(tmp_path, '[outbound]\npins = "pins.toml"\n')
    assert {e.person for e in load_config(path, ENV).pin_file.pins} == {"boss", "help"}  # type: ignore[union-attr]


def test_pin_set_refuses_short_pins_by_the_configured_minimum(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    short = _pin_set(pins, "boss", "12345")
    assert short.returncode == 1
    assert short.stderr.strip() == "callguard: a PIN is 6 to 12 digits ([outbound] pin_min_digits = 6)"
    assert not pins.exists()
    assert _pin_set(pins, "boss", "1234", "--file", str(pins), "--min-digits", "4").returncode == 0
    # With --config, the file and the minimum come from [outbound]; no service password needed.
    config = write(tmp_path, '[outbound]\npins = "pins.toml"\npin_min_digits = 8\n')
    seven = _pin_set(pins, "help", "1234567", "--config", str(config))
    assert seven.returncode == 1 and "8 to 12 digits" in seven.stderr
    assert _pin_set(pins, "help", "12345678", "--config", str(config)).returncode == 0
    assert [e.person for e in load_pin_entries(pins)] == ["boss", "help"]


def test_pin_file_is_written_atomically_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pins = tmp_path / "pins.toml"
    monkeypatch.setattr(os, "umask", os.umask)  # restored by monkeypatch, whatever happens
    old_umask = os.umask(0o022)  # a usual umask would make a plain new file world-readable
    try:
        set_pin(pins, "boss", "864209", 6)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(pins.stat().st_mode) == 0o600
    before = pins.read_text()
    # The temp file is private from its creation, before any content is written to it.
    created: list[tuple[str, int]] = []
    real_open = os.open

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith(".tmp"):
            created.append((str(path), mode))
        return real_open(path, flags, mode, **kw)

    # A crash half-way (here: fsync failing) leaves the old file whole and no temp file behind.
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        set_pin(pins, "help", "864210", 6)
    monkeypatch.undo()
    assert pins.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pins.toml"]
    [(tmp_name, mode)] = created
    assert Path(tmp_name).parent == tmp_path and mode == 0o600
    set_pin(pins, "help", "864210", 6)
    assert stat.S_IMODE(pins.stat().st_mode) == 0o600 and [e.person for e in load_pin_entries(pins)] == [
        "boss",
        "help",
    ]


def test_check_config_warns_when_a_hard_cap_would_cut_the_out4_warning_off(tmp_path: Path) -> None:
    """OUT-4: the shipped zh_CN warning lasts 3.1 s; warned 2 s before a hard cap, the employee
    hears two thirds of it. check-config says so (and still passes: the service runs on it);
    a limit without a hard cap lets the call, and the prompt, go on."""
    durations = (
        "[outbound.durations.national]\nlimit_s = 60\nwarn_before_s = 2\nhard_cap = true\n"
        "[outbound.durations.local]\nlimit_s = 60\nwarn_before_s = 2\n"
        "[outbound.durations.mobile]\nlimit_s = 60\nwarn_before_s = 5\nhard_cap = true\n"
    )
    path = write(tmp_path, '[ari]\npassword = "p"\n[ami]\npassword = "q"\n' + durations)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGUARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "callguard", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    prompt = PROJECT / "sounds" / "zh_CN" / "duration_warning.wav"
    assert done.returncode == 0 and done.stdout.startswith(f"{path}: ok")
    assert done.stderr.splitlines() == [
        f"warning: {path}: outbound.durations.national.warn_before_s: 2 s, shorter than the OUT-4"
        f" warning (3.1 s, {prompt}): the hard cap cuts it off"
    ]
    english = subprocess.run(  # the en prompt (2.2 s) fits in 5 s but not in 2
        [
            sys.executable,
            "-m",
            "callguard",
            "check-config",
            str(path),
            "--prompts",
            str(prompt.parents[1] / "en"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert english.returncode == 0 and len(english.stderr.splitlines()) == 1
    assert "national.warn_before_s: 2 s" in english.stderr and "(2.2 s," in english.stderr
