"""The console's commands, run as a user runs them: `callguard user`, `token`, `web`. Passwords
come from stdin, there is no default one, heads come from the org chart, tokens are printed once;
`callguard web` binds loopback and says in one line why it cannot start."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from callguard.store.accounts import change_account, create_token, set_disabled
from callguard.web.auth import hash_password
from tests.console import HIDDEN, PASSWORD, PROJECT, running_console, sign_in

CONFIG = str(PROJECT / "config" / "callguard.toml")


def _env(tmp_path: Path, database: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "CALLGUARD_ARI_PASSWORD": "a",
        "CALLGUARD_AMI_PASSWORD": "b",
        "CALLGUARD_STATE_DIR": str(tmp_path),
        "CALLGUARD_DATABASE_URL": database or f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
    }


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callguard", *args, "--config", CONFIG],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=PROJECT,
        timeout=60,
    )


def test_user_add_takes_the_password_from_stdin_and_lists_the_account(tmp_path: Path) -> None:
    added = run(tmp_path, "user", "add", "wang.li", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "account wang.li (admin) added"
    listed = run(tmp_path, "user", "list")
    assert listed.stdout.splitlines() == ["wang.li\tadmin", "(1 accounts)"]
    again = run(tmp_path, "user", "add", "wang.li", "--role", "auditor", stdin=PASSWORD + "\n")
    assert again.returncode == 1
    assert again.stderr.strip() == "callguard: wang.li: already has an account (`callguard user list`)"


@pytest.mark.parametrize(
    ("person", "role", "stdin", "error"),
    [
        ("li.lei", "employee", PASSWORD, f"callguard: {CONFIG}: 'li.lei': no such person in the directory"),
        ("chen.jie", "head", PASSWORD, "callguard: chen.jie: the directory names them head of no department"),
        ("chen.jie", "employee", "", "callguard: password: at least 10 characters"),  # no default password
        ("chen.jie", "employee", "short", "callguard: password: at least 10 characters"),
    ],
)
def test_user_add_refuses_in_one_line(tmp_path: Path, person: str, role: str, stdin: str, error: str) -> None:
    refused = run(tmp_path, "user", "add", person, "--role", role, stdin=stdin)
    assert refused.returncode == 1
    assert refused.stderr.startswith(error) and refused.stderr.count("\n") == 1
    assert "(0 accounts)" in run(tmp_path, "user", "list").stdout


def test_a_head_is_accepted_for_the_head_the_org_chart_names(tmp_path: Path) -> None:
    assert run(tmp_path, "user", "add", "liu.yang", "--role", "head", stdin=PASSWORD).returncode == 0


def test_tokens_are_printed_once_listed_without_their_secret_and_revocable(tmp_path: Path) -> None:
    run(tmp_path, "user", "add", "zhao.min", "--role", "finance", stdin=PASSWORD)
    created = run(tmp_path, "token", "create", "--user", "zhao.min", "--name", "erp")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("cg_") and len(token) > 40
    listed = run(tmp_path, "token", "list")
    assert "zhao.min\terp" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    assert token not in (tmp_path / "console.db").read_bytes().decode("latin-1")  # only its hash is stored
    assert run(tmp_path, "token", "revoke", "1").stdout.strip() == "token 1 revoked"
    assert "revoked" in run(tmp_path, "token", "list").stdout
    again = run(tmp_path, "token", "revoke", "1")
    assert again.returncode == 1 and "already revoked" in again.stderr
    assert (
        run(tmp_path, "token", "create", "--user", "nobody").stderr.strip()
        == "callguard: nobody: no such account"
    )


def test_a_token_lasts_90_days_unless_told_and_is_listed_as_expired_after(tmp_path: Path) -> None:
    run(tmp_path, "user", "add", "zhao.min", "--role", "finance", stdin=PASSWORD)
    created = run(tmp_path, "token", "create", "--user", "zhao.min", "--name", "erp")
    until = re.search(r"valid until (\S+) ", created.stderr)
    assert until is not None, created.stderr
    lifetime = datetime.fromisoformat(until.group(1)) - datetime.now(UTC)
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)
    week = run(tmp_path, "token", "create", "--user", "zhao.min", "--name", "audit", "--days", "7")
    assert week.returncode == 0 and "valid until" in week.stderr
    for days in ("0", "731", "-3"):
        refused = run(tmp_path, "token", "create", "--user", "zhao.min", "--days", days)
        assert (refused.returncode, refused.stderr.strip()) == (
            1,
            f"callguard: --days {days}: a token lasts 1 to 730 days",
        )
    with sqlite3.connect(tmp_path / "console.db") as db:  # the first one's time has come
        db.execute("UPDATE api_tokens SET expires_at = '2026-01-01 00:00:00.000000' WHERE id = 1")
    listed = run(tmp_path, "token", "list").stdout.splitlines()
    assert listed[0].startswith("1\tzhao.min\terp\t") and "\texpired 2026-01-01T00:00:00+00:00" in listed[0]
    assert listed[1].startswith("2\tzhao.min\taudit\t") and "\tactive until " in listed[1]
    assert listed[2] == "(2 tokens)"


def test_user_disable_and_enable(tmp_path: Path) -> None:
    run(tmp_path, "user", "add", "chen.jie", "--role", "employee", stdin=PASSWORD)
    assert run(tmp_path, "user", "disable", "chen.jie").stdout.strip() == "account chen.jie disabled"
    assert run(tmp_path, "user", "list").stdout.splitlines()[0] == "chen.jie\temployee\tdisabled"
    assert run(tmp_path, "user", "enable", "chen.jie").returncode == 0
    assert run(tmp_path, "user", "list").stdout.splitlines()[0] == "chen.jie\temployee"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_on(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp has them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.add(address)
    return found


def _console_config(tmp_path: Path, **console: str) -> str:
    """The example configuration with these [console] keys set (TOML values as written)."""
    for name in ("callguard.toml", "directory.toml", "tariffs.toml", "pins.toml"):
        shutil.copy(PROJECT / "config" / name, tmp_path / name)
    text = (tmp_path / "callguard.toml").read_text(encoding="utf-8")
    for key, value in console.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    (tmp_path / "callguard.toml").write_text(text)
    return str(tmp_path / "callguard.toml")


@contextmanager
def _web(tmp_path: Path, config: str, port: int) -> Iterator[subprocess.Popen[str]]:
    web = subprocess.Popen(
        [sys.executable, "-m", "callguard", "web", "--config", config, "--port", str(port)],
        env=_env(tmp_path), cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30  # a functional deadline: the console must come up at all
        while time.monotonic() < deadline:
            if web.poll() is not None:
                pytest.fail(f"callguard web exited: {web.communicate()[1][-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the console did not answer")
        yield web
    finally:
        web.terminate()
        web.wait(timeout=10)


def _failed_sign_in_from(port: int, forwarded_for: str) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        form = client.get("/login")
        fields = {m["name"]: m["value"] for m in HIDDEN.finditer(form.text)}
        data = {**fields, "username": "chen.jie", "password": "not the password"}
        assert client.post("/login", data=data, headers={"X-Forwarded-For": forwarded_for}).status_code == 401


def _failure_addresses(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "console.db") as db:
        return [row[0] for row in db.execute("SELECT address FROM login_failures")]


def test_web_binds_loopback_by_default_and_serves_the_sign_in_page(tmp_path: Path) -> None:
    port = _free_port()
    with _web(tmp_path, CONFIG, port) as web:
        page = httpx.get(f"http://127.0.0.1:{port}/login?number=13800138000", timeout=5)
        assert page.status_code == 200 and 'form id="login"' in page.text
        assert _listening_on(port) == {"0100007F"}  # 127.0.0.1 and nothing else
        # The port is now taken: a second console says so in one line.
        second = run(tmp_path, "web", "--port", str(port))
        assert second.returncode == 1
        taken = f"cannot listen on 127.0.0.1:{port}: Address already in use (choose --port)"
        assert second.stderr == f"callguard: console: {taken}\n"
        # No proxy is trusted by default: a local process cannot claim another address.
        _failed_sign_in_from(port, "10.9.9.9")
        assert _failure_addresses(tmp_path) == ["127.0.0.1"]
        web.terminate()
        out, err = web.communicate(timeout=10)
    assert "13800138000" not in out + err  # no access log with query strings (SEC-2)


def test_web_believes_x_forwarded_for_from_a_trusted_proxy_only(tmp_path: Path) -> None:
    port = _free_port()
    config = _console_config(tmp_path, trusted_proxies='["127.0.0.1"]')
    with _web(tmp_path, config, port):
        _failed_sign_in_from(port, "10.9.9.9")
    assert _failure_addresses(tmp_path) == ["10.9.9.9"]


def test_web_says_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callguard", "web", "--config", CONFIG, "--port", str(_free_port())],
        env=_env(tmp_path, "postgresql+asyncpg://callguard:s3cret@127.0.0.1:1/callguard"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("callguard: console: database 127.0.0.1:1/callguard: unreachable: ")
    assert result.stderr.count("\n") == 1 and "s3cret" not in result.stderr


def test_user_password_and_role_change_the_account(tmp_path: Path) -> None:
    run(tmp_path, "user", "add", "liu.yang", "--role", "employee", stdin=PASSWORD)
    changed = run(tmp_path, "user", "password", "liu.yang", stdin="another long passphrase\n")
    assert changed.stdout.strip() == "password of liu.yang changed", changed.stderr
    assert (
        run(tmp_path, "user", "role", "liu.yang", "--role", "head").stdout.strip()
        == "account liu.yang is now head"
    )
    assert run(tmp_path, "user", "list").stdout.splitlines()[0] == "liu.yang\thead"
    refused = run(tmp_path, "user", "role", "liu.yang", "--role", "nobody")
    assert refused.returncode == 2  # argparse: not a role
    assert run(tmp_path, "user", "password", "nobody.here", stdin=PASSWORD).stderr.strip() == (
        "callguard: nobody.here: no such account"
    )


async def test_a_changed_password_or_role_ends_the_accounts_sessions(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        await sign_in(client, "chen.jie")
        assert (await client.get("/api/v1/me")).status_code == 200
        await change_account(
            console.engine, "chen.jie", password_hash=hash_password("another long passphrase")
        )
        assert (await client.get("/api/v1/me")).status_code == 401
        assert (await sign_in(client, "chen.jie")).status_code == 401  # the old password is gone
        assert (await sign_in(client, "chen.jie", "another long passphrase")).status_code == 303
        _id, token, _expires_at = await create_token(console.engine, "chen.jie", "script")
        await change_account(console.engine, "chen.jie", role="finance")
        assert (await client.get("/api/v1/me")).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200  # a role change keeps it
        await change_account(console.engine, "chen.jie", password_hash=hash_password("a third passphrase"))
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401  # a new password ends it


async def test_disabling_revokes_tokens_so_enabling_does_not_revive_them(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        _id, token, _expires_at = await create_token(console.engine, "chen.jie", "script")
        await set_disabled(console.engine, "chen.jie")
        await set_disabled(console.engine, "chen.jie", False)
        assert (
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401
