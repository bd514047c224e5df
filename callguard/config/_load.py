"""Load and validate the TOML files; every problem becomes one `file: key: what is wrong` line."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from callguard.config._models import Config, DirectoryConfig, PinFile, Role, TariffFile

M = TypeVar("M", bound=BaseModel)

# Secrets may stay out of the file; the environment wins over it.
_ENV_OVERRIDES = {
    ("ari", "password"): "CALLGUARD_ARI_PASSWORD",
    ("ami", "password"): "CALLGUARD_AMI_PASSWORD",
    ("database", "url"): "CALLGUARD_DATABASE_URL",
    ("mqtt", "password"): "CALLGUARD_MQTT_PASSWORD",
}


class ConfigError(Exception):
    """A configuration that callguard refuses; `problems` are `file: key: what` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"{path}: (file): not found")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: (syntax): {exc}")
    except OSError as exc:
        problems.append(f"{path}: (file): cannot be read: {exc.strerror}")
    return None


def _validate(model: type[M], data: Mapping[str, Any], path: Path, problems: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if p not in ("source", "directory", "pin_file") or len(err["loc"]) > 1
            )
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{path}: {_key_path(loc)}: {msg}")
    return None


def _cross_check(directory: DirectoryConfig, path: Path, problems: list[str]) -> None:
    """References between departments, people and lines must resolve."""
    dept_ids = [d.id for d in directory.departments]
    person_ids = [p.id for p in directory.people]
    for kind, ids in (("departments", dept_ids), ("people", person_ids)):
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                problems.append(f"{path}: {kind}[{i}].id: duplicate id {ident!r}")
            seen.add(ident)
    people = {p.id: p for p in directory.people}
    for i, person in enumerate(directory.people):
        if person.department not in dept_ids:
            problems.append(f"{path}: people[{i}].department: unknown department {person.department!r}")
        for j, assistant in enumerate(person.assistants):
            if assistant not in people:
                problems.append(f"{path}: people[{i}].assistants[{j}]: unknown person {assistant!r}")
            elif assistant == person.id:
                problems.append(f"{path}: people[{i}].assistants[{j}]: a person cannot assist themself")
        if person.assistants and person.role not in (Role.manager, Role.director):
            problems.append(f"{path}: people[{i}].assistants: only a manager or director has assistants")
    seen_ext: set[str] = set()
    for i, line in enumerate(directory.lines):
        if line.extension in seen_ext:
            problems.append(f"{path}: lines[{i}].extension: duplicate extension {line.extension!r}")
        seen_ext.add(line.extension)
        if line.person is not None and line.person not in people:
            problems.append(f"{path}: lines[{i}].person: unknown person {line.person!r}")
        if line.department is not None and line.department not in dept_ids:
            problems.append(f"{path}: lines[{i}].department: unknown department {line.department!r}")
        if line.person is None and line.department is None:
            problems.append(f"{path}: lines[{i}]: a line needs a person or a department")
    extensions = {line.extension for line in directory.lines}
    for i, line in enumerate(directory.lines):
        for j, ext in enumerate(line.covered_by):
            if ext not in extensions:
                problems.append(f"{path}: lines[{i}].covered_by[{j}]: unknown extension {ext!r}")
    for i, dept in enumerate(directory.departments):
        if dept.head is not None and dept.head not in people:  # LOG-3: the console's head role
            problems.append(f"{path}: departments[{i}].head: unknown person {dept.head!r}")
        for j, ext in enumerate(dept.hunt_group):
            if ext not in extensions:
                problems.append(f"{path}: departments[{i}].hunt_group[{j}]: unknown extension {ext!r}")


def _old_pin_format(raw: Mapping[str, Any]) -> bool:
    """The first format: one file-wide salt and unsalted-per-PIN PBKDF2 hashes."""
    entries = raw.get("pins")
    hashes = [e.get("hash") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return "salt" in raw or any(isinstance(h, str) and not h.startswith("scrypt$") for h in hashes)


def _load_pins(path: Path, directory: DirectoryConfig | None, problems: list[str]) -> PinFile | None:
    raw = _read_toml(path, problems)
    if raw is not None and _old_pin_format(raw):
        key = "salt" if "salt" in raw else "pins"
        problems.append(
            f"{path}: {key}: old PIN format (PBKDF2 under one salt): move this file away and "
            f"set every PIN again with `callguard pin set PERSON --file {path}`"
        )
        return None
    pins = _validate(PinFile, raw, path, problems) if raw is not None else None
    if pins is None:
        return None
    # Two people sharing one PIN cannot be seen here (every hash has its own salt): `pin set`
    # refuses a new PIN that matches another person's.
    people = {p.id for p in directory.people} if directory else set()
    seen: set[str] = set()
    for i, entry in enumerate(pins.pins):
        if directory is not None and entry.person not in people:
            problems.append(f"{path}: pins[{i}].person: unknown person {entry.person!r}")
        if entry.person in seen:
            problems.append(f"{path}: pins[{i}].person: {entry.person!r} has two PINs")
        seen.add(entry.person)
    return pins


def _load_tariffs(path: Path, problems: list[str]) -> list[Any]:
    """LOG-4: the `[outbound] tariffs` file's entries, checked here so that its problems name it."""
    raw = _read_toml(path, problems)
    table = _validate(TariffFile, raw, path, problems) if raw is not None else None
    return [t.model_dump() for t in table.tariffs] if table is not None else []


def _check_costs(config: Config, path: Path, problems: list[str]) -> None:
    """Tariff ids are unique (records name them); budgets name known departments and people."""
    seen: set[str] = set()
    for i, tariff in enumerate(config.tariffs):
        if tariff.id in seen:
            problems.append(f"{path}: tariffs[{i}].id: duplicate tariff id {tariff.id!r}")
        seen.add(tariff.id)
        if not tariff.classes and not tariff.prefixes:
            problems.append(f"{path}: tariffs[{i}]: give classes and/or prefixes")
    known = {
        "department": {d.id for d in config.directory.departments},
        "person": {p.id for p in config.directory.people},
    }
    for scope in ("department", "person"):
        for i, entry in enumerate(getattr(config.budgets, scope)):
            if entry.name not in known[scope]:
                problems.append(f"{path}: budgets.{scope}[{i}].name: unknown {scope} {entry.name!r}")


def _is_placeholder(password: str) -> bool:
    # The shipped ari.conf/manager.conf say CHANGE_ME: a deployment must not run on it.
    return password.strip().lower() in ("", "change_me")


def _resolve_relative(value: str, base: Path) -> str:
    return value if not value or Path(value).is_absolute() else str(base / value)


def _state_dir(configured: str, env: Mapping[str, str], base: Path) -> Path:
    """CALLGUARD_STATE_DIR, else [service] state_dir (relative to the config file)."""
    if env.get("CALLGUARD_STATE_DIR"):
        return Path(env["CALLGUARD_STATE_DIR"]).resolve()
    return base / configured  # an absolute state_dir stays as it is


def _resolve_db_url(url: str, base: Path) -> str:
    # A relative SQLite path is relative to the state directory, not to the current directory.
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(base / url[len(prefix) :])
    return url


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for (section, key), var in _ENV_OVERRIDES.items():
        if env.get(var):
            sect = raw.setdefault(section, {})
            if isinstance(sect, dict):
                sect[key] = env[var]


def _section_value(raw: Mapping[str, Any], section: str, key: str, default: str) -> Any:
    """`raw[section][key]` of a file not yet validated (a section may be of the wrong type)."""
    table = raw.get(section, {})
    return table.get(key, default) if isinstance(table, dict) else ""


def _load_directory(raw: Mapping[str, Any], base: Path, problems: list[str]) -> DirectoryConfig | None:
    name = _section_value(raw, "service", "directory", "directory.toml")
    path = Path(_resolve_relative(str(name), base))
    directory_raw = _read_toml(path, problems)
    directory = (
        _validate(DirectoryConfig, directory_raw, path, problems) if directory_raw is not None else None
    )
    if directory is not None:
        _cross_check(directory, path, problems)
    return directory


def _merge_tariff_file(raw: dict[str, Any], base: Path, problems: list[str]) -> None:
    """LOG-4: the `[outbound] tariffs` file's entries join `[[tariffs]]`."""
    name = _section_value(raw, "outbound", "tariffs", "")
    if isinstance(name, str) and name and isinstance(raw.get("tariffs", []), list):
        raw["tariffs"] = [
            *raw.get("tariffs", []),
            *_load_tariffs(Path(_resolve_relative(name, base)), problems),
        ]


def _check_settings(config: Config, path: Path, problems: list[str]) -> None:
    """What one model cannot check alone: references into the directory, limits, secrets."""
    dept_ids = {d.id for d in config.directory.departments}
    for i, window in enumerate(config.outbound.quiet_hours):
        for j, dept in enumerate(window.departments):
            if dept not in dept_ids:
                problems.append(
                    f"{path}: outbound.quiet_hours[{i}].departments[{j}]: unknown department {dept!r}"
                )
    _check_costs(config, path, problems)
    for cls, limit in config.outbound.durations.items():
        if limit.warn_before_s >= limit.limit_s:
            problems.append(
                f"{path}: outbound.durations.{cls.value}.warn_before_s: must be less than limit_s"
            )
    if _is_placeholder(config.ari.password):
        problems.append(
            f"{path}: ari.password: a placeholder (empty or CHANGE_ME): set the password of "
            "ari.conf here or in CALLGUARD_ARI_PASSWORD"
        )
    if config.ami.enabled and _is_placeholder(config.ami.password):
        problems.append(
            f"{path}: ami.password: a placeholder (empty or CHANGE_ME): set the secret of "
            "manager.conf here or in CALLGUARD_AMI_PASSWORD"
        )


def _resolve_paths(config: Config, env: Mapping[str, str], base: Path) -> Config:
    # Records and logs live in the state directory, not next to a config that may be read-only.
    state = _state_dir(config.service.state_dir, env, base)
    service = config.service.model_copy(update={"state_dir": str(state)})
    database = config.database.model_copy(
        update={
            "url": _resolve_db_url(config.database.url, state),
            "journal": _resolve_relative(config.database.journal, state),
        }
    )
    log = config.log.model_copy(update={"file": _resolve_relative(config.log.file, state)})
    mqtt = config.mqtt.model_copy(
        update={
            k: _resolve_relative(getattr(config.mqtt, k), base) for k in ("ca_file", "cert_file", "key_file")
        }
    )
    return config.model_copy(update={"service": service, "database": database, "log": log, "mqtt": mqtt})


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load callguard.toml and the directory it names; raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    path = Path(path)
    problems: list[str] = []
    raw = _read_toml(path, problems)
    if raw is None:
        raise ConfigError(problems)
    _apply_env(raw, env)
    base = path.parent.resolve()
    directory = _load_directory(raw, base, problems)
    pins_name = _section_value(raw, "outbound", "pins", "")
    pin_file = None
    if isinstance(pins_name, str) and pins_name:
        pin_file = _load_pins(Path(_resolve_relative(pins_name, base)), directory, problems)
    _merge_tariff_file(raw, base, problems)
    whole = {
        **raw,
        "directory": directory or DirectoryConfig(company="-"),
        "pin_file": pin_file,
        "source": path,
    }
    config = _validate(Config, whole, path, problems)
    if problems or config is None:
        raise ConfigError(problems)
    _check_settings(config, path, problems)
    if problems:
        raise ConfigError(problems)
    return _resolve_paths(config, env, base)
