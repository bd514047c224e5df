"""The console (`callguard web`) in the lab: started beside callguard on port 8480 plus the lab's
offset, and the lab's sign-in accounts, made as an administrator makes them (`callguard user add`,
the password on stdin). No password ships: each is random and printed once."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from callguard.config import load_config
from callguard.lab.errors import LabError
from callguard.policy import Directory

CONSOLE_PORT = 8480

# Who signs in to the lab's console, by role (LOG-3): people of config/directory.toml. A
# department's head is whoever the org chart names head (`head` on [[departments]]).
LAB_ACCOUNTS = {
    "admin": "wang.li",
    "auditor": "he.gang",
    "finance": "zhao.min",
    "employee": "chen.jie",
    "operations": "ma.lin",
}
HEAD_OF = "sales"


@dataclass(frozen=True)
class Account:
    role: str
    person: str
    password: str


def console_port(offset: int) -> int:
    return CONSOLE_PORT + offset


def wait_console(url: str, alive: Callable[[], bool], timeout: float = 30.0) -> None:
    """Until the console answers its sign-in page; `alive()` says whether the process still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise LabError("callguard web exited during start-up; see web.out in the lab's state directory")
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise LabError(f"callguard web did not answer {url}/login within {timeout:.0f} s")


def department_head(config_path: str, department: str = HEAD_OF) -> str:
    """The person the org chart names head of `department`."""
    directory = Directory(load_config(config_path).directory)
    dept = directory.department(department)
    if dept is None or not dept.head:
        raise LabError(f"directory.toml: departments.{department}.head: the lab's console needs a head")
    return dept.head


def _reset_password(config_path: str, person: str, role: str, password: str) -> None:
    """A new password for an account an earlier run on this lab database made (the demo runs
    again), changed as `callguard user password` changes one: the last run's sessions end."""
    # Here, not at the top: every lab command imports this module; only a re-run needs the web's.
    from callguard.store import make_engine
    from callguard.store.accounts import change_account, find_account, set_disabled
    from callguard.web.auth import hash_password

    async def reset() -> None:
        engine = make_engine(load_config(config_path).database.url)
        try:
            account = await find_account(engine, person)
            if account is None or account.role != role:
                raise LabError(
                    f"{person}: the lab database has this account with another role; remove calls.db"
                )
            await change_account(engine, person, password_hash=hash_password(password))
            await set_disabled(engine, person, False)
        finally:
            await engine.dispose()

    # Its own event loop: the demo calls this from inside one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, reset()).result()


def add_account(config_path: str, person: str, role: str) -> Account:
    """`callguard user add PERSON --role ROLE` with a random password typed on stdin; an account
    left from an earlier run on the same lab database gets a new random password."""
    password = secrets.token_urlsafe(12)
    result = subprocess.run(
        [sys.executable, "-m", "callguard", "user", "add", person, "--role", role, "--config", config_path],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 and "already has an account" in result.stderr:
        _reset_password(config_path, person, role, password)
    elif result.returncode != 0:
        raise LabError(f"callguard user add {person} --role {role}: {result.stderr.strip()}")
    return Account(role, person, password)


def add_lab_accounts(config_path: str) -> list[Account]:
    """One account per role: the sales head from the org chart, and LAB_ACCOUNTS."""
    people = {**LAB_ACCOUNTS, "head": department_head(config_path)}
    return [add_account(config_path, person, role) for role, person in people.items()]


def print_console(url: str, accounts: list[Account]) -> None:
    """The demo's closing lines: where the console is and who can sign in (LOG-3 roles)."""
    print(f"\nthe console: {url}  (it runs on with the lab; `callguard lab down` stops both)")
    print("sign in as (passwords made at random for this run, shown only here):")
    for a in accounts:
        print(f"  {a.role:<10} {a.person:<10} {a.password}")
