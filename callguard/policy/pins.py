"""Authorization codes (OUT-3): salted scrypt hashes, the book of who owns which code, and the
lockout that stops codes being guessed across calls. Pure: no I/O, the time is passed in."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

# scrypt's cost: 16 MiB and ~50 ms per hash. The parameters travel in each stored hash, so they
# can be raised later without invalidating the codes already set.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
PIN_HASH_RE = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]{32,128})\$([0-9a-f]{64})$")


class PinError(ValueError):
    """A PIN that `pin set` refuses; the message is one line for the user."""


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses more than 32 MiB by default; allow what the stored parameters need.
    return hashlib.scrypt(
        pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * r * (n + p + 2), dklen=HASH_BYTES
    )


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$<salt hex>$<hash hex>`, with a fresh random salt for every PIN."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    m = PIN_HASH_RE.match(stored)
    if m is None:
        return False
    n, r, p = (int(m.group(i)) for i in (1, 2, 3))
    digest = _scrypt(pin, bytes.fromhex(m.group(4)), n, r, p)
    return hmac.compare_digest(digest.hex(), m.group(5))


def check_new_pin(pin: str, min_digits: int) -> None:
    """`pin set`'s rules for a new code: digits only, `min_digits` to 12 of them."""
    if not re.fullmatch(r"[0-9]+", pin) or not min_digits <= len(pin) <= 12:
        raise PinError(f"a PIN is {min_digits} to 12 digits ([outbound] pin_min_digits = {min_digits})")


class PinBook:
    """Who owns which code. Each entry has its own salt, so a typed PIN is hashed once per entry
    until one matches: CPU-bound, run it off the event loop."""

    def __init__(self, hashes_by_person: dict[str, str] | None = None, min_digits: int = 4) -> None:
        self._hashes = dict(hashes_by_person or {})
        self.min_digits = min_digits

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def owner(self, pin: str) -> str | None:
        """The person whose PIN this is; codes shorter than the minimum are not even hashed."""
        if not pin.isdigit() or not self.min_digits <= len(pin) <= 12:
            return None
        for person, stored in self._hashes.items():
            if verify_pin(pin, stored):
                return person
        return None


@dataclass(frozen=True)
class PinLockout:
    """A lockout that has just started: no PIN is asked for on `line` (and the lines of
    `person`, who owns it) until `until`."""

    line: str
    person: str | None
    until: datetime


class PinGuard:
    """OUT-3 against guessing: `after` wrong codes within `window` lock PIN entry for `lockout`,
    counted per line and per the person who owns the line (so that a person's several lines
    share one count). A wrong code typed during a lockout (a concurrent call) does not count."""

    def __init__(self, after: int, window: timedelta, lockout: timedelta) -> None:
        self.after = after
        self.window = window
        self.lockout = lockout
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._until: dict[tuple[str, str], datetime] = {}

    @staticmethod
    def _keys(line: str, person: str | None) -> list[tuple[str, str]]:
        return [("line", line)] + ([("person", person)] if person else [])

    def locked(self, line: str, person: str | None, now: datetime) -> datetime | None:
        """Until when PIN entry is locked on this line, or None."""
        untils = [u for key in self._keys(line, person) if (u := self._until.get(key)) and u > now]
        return max(untils, default=None)

    def failed(self, line: str, person: str | None, now: datetime) -> PinLockout | None:
        """Count a wrong code; the lockout it starts, if it starts one."""
        if self.locked(line, person, now) is not None:
            return None
        started = None
        for key in self._keys(line, person):
            times = self._failures.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            times.append(now)
            if len(times) >= self.after:
                times.clear()  # a new lockout starts from a clean count
                self._until[key] = now + self.lockout
                started = PinLockout(line, person, now + self.lockout)
        return started
