"""Writing the PIN file (OUT-3): what `callguard pin set` and the lab both use. Not in config/:
it hashes with policy.pins, and policy reads config (one direction only, no package cycle)."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from callguard.config._load import ConfigError, _old_pin_format, _read_toml, _resolve_relative, _validate
from callguard.config._models import OutboundSettings, PinEntry, PinFile
from callguard.policy.pins import PinError, check_new_pin, hash_pin, verify_pin

_HEADER = (
    "# Authorization codes (POLICY OUT-3), written by `callguard pin set`: one salted scrypt hash\n"
    "# per person, never a PIN. A PIN alone identifies its owner. Keep this file private (0600).\n"
)


def pin_settings(config_path: Path) -> tuple[Path, int]:
    """The PIN file and `pin_min_digits` named by a callguard.toml (only its [outbound] is read,
    so that setting a PIN needs no service password)."""
    problems: list[str] = []
    raw = _read_toml(config_path, problems)
    section = raw.get("outbound", {}) if raw is not None else {}
    outbound = _validate(OutboundSettings, section, config_path, problems) if raw is not None else None
    if outbound is None:
        raise ConfigError([p.replace(f"{config_path}: ", f"{config_path}: outbound.", 1) for p in problems])
    if not outbound.pins:
        raise ConfigError([f"{config_path}: outbound.pins: no PIN file configured"])
    return Path(_resolve_relative(outbound.pins, config_path.parent.resolve())), outbound.pin_min_digits


def read_pin_file(path: Path) -> list[PinEntry]:
    """The entries of an existing PIN file (none if it does not exist yet)."""
    if not path.exists():
        return []
    problems: list[str] = []
    raw = _read_toml(path, problems)
    if raw is not None and _old_pin_format(raw):
        raise PinError(
            f"{path}: old PIN format (PBKDF2 under one salt): move it away and set every PIN again"
        )
    pins = _validate(PinFile, raw, path, problems) if raw is not None else None
    if pins is None:
        raise PinError(problems[0])
    return list(pins.pins)


def set_pin(path: Path, person: str, pin: str, min_digits: int) -> None:
    """Hash `pin` for `person` into the file, replacing their old one; refuse a PIN that is too
    short or that another person already has (the PIN alone must identify its owner)."""
    if not re.fullmatch(r"[a-z0-9_.-]+", person):
        raise PinError(f"{person!r} is not a person id from directory.toml")
    check_new_pin(pin, min_digits)
    entries = read_pin_file(path)
    # Every hash has its own salt, so uniqueness is checked by trying the PIN against each one.
    if any(e.person != person and verify_pin(pin, e.hash) for e in entries):
        raise PinError("another person already has this PIN; choose a different one")
    new = PinEntry(person=person, hash=hash_pin(pin))
    replaced = [new if e.person == person else e for e in entries]
    write_pin_file(path, replaced if new in replaced else [*entries, new])


def write_pin_file(path: Path, entries: list[PinEntry]) -> None:
    """Atomically: a 0600 temp file beside it (private before the first byte), fsync, rename.
    A reader sees the old file or the new one, never half of it."""
    text = _HEADER + "".join(
        f"\n[[pins]]\nperson = {json.dumps(e.person)}\nhash = {json.dumps(e.hash)}\n" for e in entries
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)  # the umask may only narrow it; say it exactly
            _keep_owner(fh.fileno(), path)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _keep_owner(fd: int, path: Path) -> None:
    # root editing the file of a service user keeps it readable by that user.
    try:
        st = path.stat()
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.fchown(fd, st.st_uid, st.st_gid)
    except (FileNotFoundError, PermissionError):
        pass
