"""The console's accounts, API tokens, sign-in sessions and failed sign-ins (migration 0010).

Secrets are never stored: passwords as argon2id hashes, tokens and session ids as sha256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from callguard.store.models import Base, UtcDateTime
from callguard.store.rows import aware


class AccountRow(Base):
    """One console account per person of the directory; the username is the person id."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2id
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Migration 0015; every token has one (a missing one counts as expired).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class LoginFailureRow(Base):
    """A failed sign-in, kept so that a restart does not reset the throttle."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)


class AccountError(Exception):
    """Something `user`/`token` commands refuse, in one sentence."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    disabled: bool
    password_hash: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _account(row: Any) -> Account:
    return Account(int(row.id), row.username, row.role, bool(row.disabled), row.password_hash)


async def add_account(engine: AsyncEngine, username: str, role: str, password_hash: str) -> Account:
    async with engine.begin() as conn:
        try:
            result = await conn.execute(
                insert(AccountRow).returning(AccountRow.id),
                {
                    "username": username,
                    "role": role,
                    "password_hash": password_hash,
                    "disabled": False,
                    "created_at": datetime.now(UTC),
                },
            )
        except IntegrityError:
            raise AccountError(f"{username}: already has an account (`callguard user list`)") from None
        return Account(int(result.scalar_one()), username, role, False, password_hash)


async def find_account(engine: AsyncEngine, username: str) -> Account | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(AccountRow).where(AccountRow.username == username))).first()
    return _account(row) if row else None


async def account_by_id(engine: AsyncEngine, account_id: int) -> Account | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(AccountRow).where(AccountRow.id == account_id))).first()
    return _account(row) if row else None


async def list_accounts(engine: AsyncEngine) -> list[Account]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AccountRow).order_by(AccountRow.username))).all()
    return [_account(r) for r in rows]


async def set_disabled(engine: AsyncEngine, username: str, disabled: bool = True) -> None:
    """Disable (or enable) an account; a disabled account's sessions end and its tokens stop working."""
    async with engine.begin() as conn:
        found = await conn.execute(
            update(AccountRow).where(AccountRow.username == username).values(disabled=disabled)
        )
        if not found.rowcount:
            raise AccountError(f"{username}: no such account")
        if disabled:  # enabling it again later revives neither its sessions nor its tokens
            await _end_credentials(conn, username, tokens=True)


async def change_account(engine: AsyncEngine, username: str, **values: str) -> None:
    """A new password hash or role; the account's sessions end (it signs in again)."""
    async with engine.begin() as conn:
        found = await conn.execute(update(AccountRow).where(AccountRow.username == username).values(**values))
        if not found.rowcount:
            raise AccountError(f"{username}: no such account")
        # A new password is for a leaked or forgotten one: the API tokens go with the sessions.
        await _end_credentials(conn, username, tokens="password_hash" in values)


async def _end_credentials(conn: AsyncConnection, username: str, tokens: bool) -> None:
    ids = select(AccountRow.id).where(AccountRow.username == username).scalar_subquery()
    await conn.execute(delete(WebSessionRow).where(WebSessionRow.account_id == ids))
    if tokens:
        await conn.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.account_id == ids, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )


async def set_password_hash(engine: AsyncEngine, account_id: int, password_hash: str) -> None:
    """argon2 asks for a rehash when its parameters grow; done at sign-in."""
    async with engine.begin() as conn:
        await conn.execute(
            update(AccountRow).where(AccountRow.id == account_id).values(password_hash=password_hash)
        )


# --- API tokens ---------------------------------------------------------------------------------


TOKEN_DAYS = 90  # a token's lifetime unless `token create --days` says otherwise
MAX_TOKEN_DAYS = 730


async def create_token(
    engine: AsyncEngine, username: str, name: str, days: int = TOKEN_DAYS
) -> tuple[int, str, datetime]:
    """A new token for the account: (its id, the token, when it expires). Only its sha256 is
    stored. A token ends: a script's credential that never does outlives the reason for it."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AccountError(f"--days {days}: a token lasts 1 to {MAX_TOKEN_DAYS} days")
    account = await find_account(engine, username)
    if account is None:
        raise AccountError(f"{username}: no such account")
    token = "cg_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=days)
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(ApiTokenRow).returning(ApiTokenRow.id),
            {
                "account_id": account.id,
                "name": name,
                "token_hash": digest(token),
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        return int(result.scalar_one()), token, expires_at


async def list_tokens(engine: AsyncEngine) -> list[dict[str, object]]:
    stmt = (
        select(ApiTokenRow, AccountRow.username)
        .join(AccountRow, AccountRow.id == ApiTokenRow.account_id)
        .order_by(ApiTokenRow.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        {
            "id": r.id,
            "user": r.username,
            "name": r.name,
            "created_at": aware(r.created_at).isoformat(),
            "revoked_at": aware(r.revoked_at).isoformat() if r.revoked_at else None,
            "expires_at": aware(r.expires_at).isoformat() if r.expires_at else None,
        }
        for r in rows
    ]


async def revoke_token(engine: AsyncEngine, token_id: int) -> None:
    async with engine.begin() as conn:
        found = await conn.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    if not found.rowcount:
        raise AccountError(f"token {token_id}: no such token, or already revoked")


async def account_for_token(engine: AsyncEngine, token: str) -> Account | None:
    """The account of a token neither revoked nor expired."""
    stmt = (
        select(AccountRow, ApiTokenRow.expires_at)
        .join(ApiTokenRow, AccountRow.id == ApiTokenRow.account_id)
        .where(ApiTokenRow.token_hash == digest(token), ApiTokenRow.revoked_at.is_(None))
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None or row.expires_at is None or aware(row.expires_at) <= datetime.now(UTC):
        return None
    return _account(row)


# --- sessions ----------------------------------------------------------------------------------


async def open_session(engine: AsyncEngine, account_id: int, hours: float) -> tuple[str, str]:
    """A new session: (the cookie value, its CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        await conn.execute(
            insert(WebSessionRow),
            {
                "id_hash": digest(session_id),
                "account_id": account_id,
                "csrf": csrf,
                "created_at": now,
                "expires_at": now + timedelta(hours=hours),
            },
        )
    return session_id, csrf


async def find_session(engine: AsyncEngine, session_id: str) -> tuple[int, str] | None:
    """(account id, CSRF token) of a session not yet expired."""
    stmt = select(WebSessionRow.account_id, WebSessionRow.csrf, WebSessionRow.expires_at).where(
        WebSessionRow.id_hash == digest(session_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None or aware(row.expires_at) <= datetime.now(UTC):
        return None
    return int(row.account_id), str(row.csrf)


async def close_session(engine: AsyncEngine, session_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == digest(session_id)))


# --- failed sign-ins ---------------------------------------------------------------------------


async def failure_times(
    engine: AsyncEngine, username: str, address: str, since: datetime
) -> tuple[list[datetime], list[datetime]]:
    """When sign-ins failed since `since`, oldest first: (for this account, from this address)."""
    at = LoginFailureRow.at
    async with engine.connect() as conn:
        by_user = await conn.scalars(
            select(at).where(LoginFailureRow.username == username, at >= since).order_by(at)
        )
        user_times = [aware(t) for t in by_user]
        by_address = await conn.scalars(
            select(at).where(LoginFailureRow.address == address, at >= since).order_by(at)
        )
        return user_times, [aware(t) for t in by_address]


async def failures_since(
    engine: AsyncEngine, username: str, address: str, since: datetime
) -> tuple[int, int]:
    """How many sign-ins failed since `since`: (for this account, from this address)."""
    by_user, by_address = await failure_times(engine, username, address, since)
    return len(by_user), len(by_address)


async def record_failure(engine: AsyncEngine, username: str, address: str, forget_before: datetime) -> int:
    """Store a failed (or not yet checked) sign-in; its id. Those before `forget_before` no
    longer count and go."""
    async with engine.begin() as conn:
        await conn.execute(delete(LoginFailureRow).where(LoginFailureRow.at < forget_before))
        result = await conn.execute(
            insert(LoginFailureRow).returning(LoginFailureRow.id),
            {"at": datetime.now(UTC), "username": username[:64], "address": address[:64]},
        )
        return int(result.scalar_one())


async def forget_failure(engine: AsyncEngine, failure_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(LoginFailureRow).where(LoginFailureRow.id == failure_id))


async def clear_failures(engine: AsyncEngine, username: str) -> None:
    """A right password ends the account's count (the address's stays: it may be guessing others)."""
    async with engine.begin() as conn:
        await conn.execute(delete(LoginFailureRow).where(LoginFailureRow.username == username))
