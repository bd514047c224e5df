"""Signing in to the console: argon2id, server-side sessions with safe cookies, CSRF on every
form, throttled failed sign-ins (kept across a restart), bearer tokens, sign-out, expiry.
Real SQLite through the real store; the real app over ASGI."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import func, select, update

from callguard.store.accounts import (
    ApiTokenRow,
    LoginFailureRow,
    WebSessionRow,
    create_token,
    revoke_token,
    set_disabled,
)
from callguard.store.audit import list_entries
from callguard.web.auth import hash_password, password_matches
from callguard.web.deps import csv_response
from tests.console import ACCOUNTS, HIDDEN, PASSWORD, csrf_of, running_console, sign_in

EMPLOYEE = ACCOUNTS["employee"]


def test_passwords_are_argon2id_hashes_never_the_password() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert password_matches(hashed, PASSWORD)
    assert not password_matches(hashed, PASSWORD + "x")
    assert not password_matches("not a hash", PASSWORD)


async def test_sign_in_sets_an_httponly_samesite_strict_session_cookie(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        assert (await client.get("/api/v1/me")).status_code == 401
        response = await sign_in(client, EMPLOYEE)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "callguard_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        me = await client.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json() == {
            "account": EMPLOYEE,
            "role": "employee",
            "departments": ["admin"],
            "sees_numbers": False,
        }


async def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    async with (
        running_console(tmp_path, ("employee",), secure_cookies=True) as console,
        console.client(https=True) as client,
    ):
        response = await sign_in(client, EMPLOYEE)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]
        assert (await client.get("/api/v1/me")).status_code == 200


async def test_a_page_signed_out_redirects_to_the_sign_in_form_and_back(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("auditor",)) as console, console.client() as client:
        page = await client.get("/audit?account=x", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/audit%3Faccount%3Dx"
        form = await client.get(page.headers["location"])
        assert 'name="next" value="/audit?account=x"' in form.text
        signed_in = await sign_in(client, ACCOUNTS["auditor"], form_path=page.headers["location"])
        # The hidden `next` field is sent with the form: back where the viewer was going.
        assert signed_in.headers["location"] == "/audit?account=x"


async def test_sign_in_never_redirects_to_another_site(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        form = await client.get("/login?next=//evil.example/x")
        assert 'name="next" value="/"' in form.text


async def test_the_sign_in_form_escapes_what_it_echoes(tmp_path: Path) -> None:
    async with running_console(tmp_path, ()) as console, console.client() as client:
        form = await client.get('/login?next=/x"><script>alert(1)</script>')
        assert "<script>alert(1)" not in form.text and "&lt;script&gt;" in form.text


async def test_wrong_password_and_unknown_account_get_the_same_answer(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        wrong = await sign_in(client, EMPLOYEE, "wrong password!")
        unknown = await sign_in(client, "nobody.here", "wrong password!")
        assert wrong.status_code == unknown.status_code == 401
        assert (
            "Wrong account name or password." in wrong.text
            and "Wrong account name or password." in unknown.text
        )
        assert "callguard_session" not in wrong.headers.get("set-cookie", "")


async def test_the_sign_in_form_needs_its_csrf_token(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        forged = await client.post(
            "/login", data={"username": EMPLOYEE, "password": PASSWORD, "csrf": "forged"}
        )
        assert forged.status_code == 403
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_failed_sign_ins_are_throttled_per_account_even_after_a_restart(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",), login_max_failures_account=3) as console:
        async with console.client() as client:
            for _ in range(3):
                assert (await sign_in(client, EMPLOYEE, "wrong password!")).status_code == 401
        # A restart of the console does not reset the count (failures are stored).
        async with console.recreated().client(address="10.0.0.9") as client:
            refused = await sign_in(client, EMPLOYEE, PASSWORD)
            assert refused.status_code == 429
            assert "Too many failed sign-ins for this account in the last 15 minutes" in refused.text
            # It says when: 15 minutes after the first of the three failures (local time).
            shown = re.search(r"try again after (\d\d:\d\d)\.", refused.text)
            soon = datetime.now().astimezone() + timedelta(minutes=15)
            assert shown and shown.group(1) in {
                (soon - timedelta(minutes=m)).strftime("%H:%M") for m in (0, 1)
            }
            assert (await client.get("/api/v1/me")).status_code == 401


async def test_concurrent_guesses_cannot_slip_under_the_throttle(tmp_path: Path) -> None:
    """40 wrong guesses sent at once: only as many passwords are checked as the throttle allows."""
    async with running_console(tmp_path, ("employee",), login_max_failures_account=5) as console:
        async with console.client() as client:
            form = await client.get("/login")
            fields = {m["name"]: m["value"] for m in HIDDEN.finditer(form.text)}

            async def guess(n: int) -> int:
                data = {**fields, "username": EMPLOYEE, "password": f"guess number {n}"}
                return (await client.post("/login", data=data)).status_code

            answers = await asyncio.gather(*(guess(n) for n in range(40)))
        assert answers.count(401) <= 5 and answers.count(429) >= 35, answers
        async with console.engine.connect() as conn:  # the refused ones are not failures
            assert (await conn.scalar(select(func.count(LoginFailureRow.id)))) == answers.count(401)


async def test_an_oversized_account_name_is_refused_without_being_stored(tmp_path: Path) -> None:
    async with running_console(tmp_path, ()) as console, console.client() as client:
        with structlog.testing.capture_logs() as logs:
            refused = await sign_in(client, "x" * 100_000, "whatever password")
        assert refused.status_code == 401
        assert all(len(str(line)) < 2000 for line in logs)
        async with console.engine.connect() as conn:
            assert (await conn.scalar(select(func.count(LoginFailureRow.id)))) == 0


async def test_failed_sign_ins_are_throttled_per_address(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee", "auditor"), login_max_failures_address=4) as console:
        async with console.client(address="10.0.0.7") as client:
            for n in range(4):  # different accounts from one address
                assert (await sign_in(client, f"guess.{n}", "wrong password!")).status_code == 401
            refused = await sign_in(client, EMPLOYEE, PASSWORD)
            assert refused.status_code == 429
            assert "from this address" in refused.text
        async with console.client(address="10.0.0.8") as client:  # another address is not held back
            assert (await sign_in(client, EMPLOYEE, PASSWORD)).status_code == 303


async def test_failures_older_than_the_window_are_forgotten(tmp_path: Path) -> None:
    async with (
        running_console(tmp_path, ("employee",), login_max_failures_account=2) as console,
        console.client() as client,
    ):
        await sign_in(client, EMPLOYEE, "wrong password!")
        async with console.engine.begin() as conn:  # that one was an hour ago
            await conn.execute(update(LoginFailureRow).values(at=datetime.now(UTC) - timedelta(hours=1)))
        await sign_in(client, EMPLOYEE, "wrong password!")
        async with console.engine.connect() as conn:
            assert (await conn.scalar(select(func.count(LoginFailureRow.id)))) == 1
        assert (await sign_in(client, EMPLOYEE)).status_code == 303  # one failure in the window


async def test_a_right_password_clears_the_accounts_count(tmp_path: Path) -> None:
    async with (
        running_console(tmp_path, ("employee",), login_max_failures_account=3) as console,
        console.client() as client,
    ):
        for _ in range(2):
            await sign_in(client, EMPLOYEE, "wrong password!")
        assert (await sign_in(client, EMPLOYEE)).status_code == 303
        for _ in range(2):
            await sign_in(client, EMPLOYEE, "wrong password!")
        assert (await sign_in(client, EMPLOYEE)).status_code == 303


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        await sign_in(client, EMPLOYEE)
        cookie = client.cookies["callguard_session"]
        assert (await client.post("/logout", data={"csrf": "forged"})).status_code == 403
        assert (await client.get("/api/v1/me")).status_code == 200
        out = await client.post("/logout", data={"csrf": await csrf_of(client)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        # The session is gone on the server, not only the cookie in this browser.
        client.cookies.set("callguard_session", cookie)
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_signing_in_and_out_is_in_the_audit_trail(tmp_path: Path) -> None:
    async with (
        running_console(tmp_path, ("employee",)) as console,
        console.client(address="10.1.2.3") as client,
    ):
        await sign_in(client, EMPLOYEE, "wrong password!")  # no entry: nobody was signed in
        await sign_in(client, EMPLOYEE)
        await client.post("/logout", data={"csrf": await csrf_of(client)})
        entries = await list_entries(console.engine)
        assert [(e["action"], e["account"], e["role"], e["address"]) for e in reversed(entries)] == [
            ("session.sign_in", EMPLOYEE, "employee", "10.1.2.3"),
            ("session.sign_out", EMPLOYEE, "employee", "10.1.2.3"),
        ]


async def test_a_session_expires(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        await sign_in(client, EMPLOYEE)
        assert (await client.get("/api/v1/me")).status_code == 200
        async with console.engine.begin() as conn:
            await conn.execute(
                update(WebSessionRow).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_a_disabled_account_is_signed_out_and_cannot_sign_in(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        await sign_in(client, EMPLOYEE)
        _id, token, _expires_at = await create_token(console.engine, EMPLOYEE, "script")
        await set_disabled(console.engine, EMPLOYEE)
        assert (await client.get("/api/v1/me")).status_code == 401
        assert (await sign_in(client, EMPLOYEE)).status_code == 401
        client.cookies.clear()  # its API tokens stop working too
        assert (
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401


async def test_bearer_tokens_work_until_revoked(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("finance",)) as console, console.client() as client:
        token_id, token, _expires_at = await create_token(console.engine, ACCOUNTS["finance"], "erp")
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "finance"
        assert (
            await client.get("/api/v1/me", headers={"Authorization": "Bearer cg_wrong"})
        ).status_code == 401
        await revoke_token(console.engine, token_id)
        assert (
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401


async def test_a_bearer_token_stops_working_when_it_expires(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("finance",)) as console, console.client() as client:
        _id, token, expires_at = await create_token(console.engine, ACCOUNTS["finance"], "erp", days=1)
        assert timedelta(hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=1)
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200
        async with console.engine.begin() as conn:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await conn.execute(update(ApiTokenRow).values(expires_at=past))
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401
        async with console.engine.begin() as conn:  # a token without an end is not one callguard made
            await conn.execute(update(ApiTokenRow).values(expires_at=None))
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401


async def test_a_bearer_token_post_needs_no_csrf_but_a_session_post_does(tmp_path: Path) -> None:
    async with running_console(tmp_path, ("employee",)) as console, console.client() as client:
        _id, token, _expires_at = await create_token(console.engine, EMPLOYEE, "script")
        # No cookie rides along with a bearer token, so a third-party page cannot forge it.
        out = await client.post("/logout", headers={"Authorization": f"Bearer {token}"})
        assert out.status_code == 303


@pytest.mark.parametrize("header", ["X-Frame-Options", "X-Content-Type-Options", "Cache-Control"])
async def test_every_answer_carries_the_safety_headers(tmp_path: Path, header: str) -> None:
    async with running_console(tmp_path, ()) as console, console.client() as client:
        response = await client.get("/login")
        assert response.headers[header] in ("DENY", "nosniff", "no-store")


async def test_an_unknown_page_is_a_console_page_and_an_unknown_api_path_json(tmp_path: Path) -> None:
    async with running_console(tmp_path, ()) as console, console.client() as client:
        page = await client.get("/no/such/page", headers={"accept": "text/html"})
        assert page.status_code == 404 and "<title>404" in page.text
        api = await client.get("/api/v1/no/such")
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_csv_exports_never_hand_a_spreadsheet_a_formula() -> None:
    rows = [
        {"name": '=HYPERLINK("http://evil.example","x")', "number": "13800138000", "cost": "0.44"},
        {"name": "@SUM(A1)", "number": "-2+3+cmd|' /C calc'!A0", "cost": "12.50"},
        {"name": "王丽 Wang Li", "number": "1003", "cost": None},
    ]
    text = csv_response(rows, ("name", "number", "cost"), "x.csv").body.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[1] == ['\'=HYPERLINK("http://evil.example","x")', "13800138000", "0.44"]
    assert lines[2] == ["'@SUM(A1)", "'-2+3+cmd|' /C calc'!A0", "12.50"]
    assert lines[3] == ["王丽 Wang Li", "1003", ""]
