"""`callguard web`, `user`, `token`, `audit verify`: the console (callguard.web) and its accounts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
from datetime import UTC, datetime
from typing import Any

from callguard.cli.common import CommandError, database_options, lab_or_none, log_event, with_engine
from callguard.config import Config, load_config
from callguard.store import accounts
from callguard.web.access import ROLES, Org


def _config(args: argparse.Namespace) -> Config:
    """The configuration whose directory the accounts belong to: --config, else the lab's."""
    if args.config:
        return load_config(args.config)
    lab = lab_or_none(args.state_dir)
    if lab is not None and lab.state is not None:
        return load_config(lab.state.config_path)
    raise CommandError("say which configuration the accounts belong to: --config FILE (or start the lab)")


def _read_password(min_length: int) -> str:
    """From stdin (one line), or asked twice on a terminal; never a default, never an argument."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < min_length:
        raise CommandError(f"password: at least {min_length} characters ([console] min_password_length)")
    return password


def check_role(config: Config, person_id: str, role: str) -> None:
    """The account's person must be in the directory; `head` only for a person it names head."""
    org = Org(config)
    if person_id not in org.people:
        raise CommandError(f"{config.source}: {person_id!r}: no such person in the directory")
    if role == "head" and not org.heads.get(person_id):
        raise CommandError(
            f'{person_id}: the directory names them head of no department (set `head = "{person_id}"` '
            "on their [[departments]] in directory.toml)"
        )


def cmd_user_add(args: argparse.Namespace) -> int:
    from callguard.web.auth import hash_password

    config = _config(args)
    check_role(config, args.person, args.role)
    password_hash = hash_password(_read_password(config.console.min_password_length))

    async def work(engine: Any) -> accounts.Account:
        try:
            return await accounts.add_account(engine, args.person, args.role, password_hash)
        except accounts.AccountError as exc:
            raise CommandError(str(exc)) from None

    account = with_engine(_db(args, config), work)
    log_event("console.account_added", account=account.username, role=account.role)
    print(f"account {account.username} ({account.role}) added")
    return 0


def _db(args: argparse.Namespace, config: Config | None = None) -> argparse.Namespace:
    """--db, else the database of the configuration the accounts belong to."""
    if args.db:
        return args
    url = (config or _config(args)).database.url
    return argparse.Namespace(db=url, config=None, state_dir=None)


def cmd_user_list(args: argparse.Namespace) -> int:
    rows = with_engine(_db(args), accounts.list_accounts)
    if args.json:
        print(json.dumps([{"user": a.username, "role": a.role, "disabled": a.disabled} for a in rows]))
        return 0
    for a in rows:
        print("\t".join([a.username, a.role] + (["disabled"] if a.disabled else [])))
    print(f"({len(rows)} accounts)")
    return 0


def _change(args: argparse.Namespace, work: Any, event: str, done: str, **fields: Any) -> int:
    try:
        with_engine(_db(args), work)
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    log_event(event, **fields)
    print(done)
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    disable = args.user_cmd == "disable"
    work = lambda engine: accounts.set_disabled(engine, args.user, disable)  # noqa: E731
    verb = "disabled" if disable else "enabled"
    return _change(args, work, f"console.account_{verb}", f"account {args.user} {verb}", account=args.user)


def cmd_user_password(args: argparse.Namespace) -> int:
    """A new password (stdin), e.g. when one is forgotten; the account's sessions end."""
    from callguard.web.auth import hash_password

    config = _config(args)
    password_hash = hash_password(_read_password(config.console.min_password_length))
    work = lambda engine: accounts.change_account(engine, args.user, password_hash=password_hash)  # noqa: E731
    done = f"password of {args.user} changed"
    return _change(_db(args, config), work, "console.password_changed", done, account=args.user)


def cmd_user_role(args: argparse.Namespace) -> int:
    config = _config(args)
    check_role(config, args.user, args.role)
    work = lambda engine: accounts.change_account(engine, args.user, role=args.role)  # noqa: E731
    done = f"account {args.user} is now {args.role}"
    return _change(_db(args, config), work, "console.role_changed", done, account=args.user, role=args.role)


def cmd_token_create(args: argparse.Namespace) -> int:
    async def work(engine: Any) -> tuple[int, str, datetime]:
        try:
            return await accounts.create_token(engine, args.user, args.name, args.days)
        except accounts.AccountError as exc:
            raise CommandError(str(exc)) from None

    token_id, token, expires_at = with_engine(_db(args), work)
    until = expires_at.isoformat(timespec="seconds")
    log_event("console.token_created", account=args.user, token_id=token_id, name=args.name, expires_at=until)
    shown = f"token {token_id} for {args.user}, valid until {until} (shown once; only its hash is stored):"
    print(shown, file=sys.stderr)
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    rows = with_engine(_db(args), accounts.list_tokens)
    now = datetime.now(UTC)
    for r in rows:
        expires = str(r["expires_at"] or "")
        if r["revoked_at"]:
            state = f"revoked {r['revoked_at']}"
        elif not expires or datetime.fromisoformat(expires) <= now:
            state = f"expired {expires or '(no expiry set)'}"
        else:
            state = f"active until {expires}"
        print(f"{r['id']}\t{r['user']}\t{r['name']}\tcreated {r['created_at']}\t{state}")
    print(f"({len(rows)} tokens)")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    work = lambda engine: accounts.revoke_token(engine, args.id)  # noqa: E731
    return _change(args, work, "console.token_revoked", f"token {args.id} revoked", token_id=args.id)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """LOG-3: walk the read audit's hash chain; exit 1 at the first broken link."""
    from callguard.store.audit import verify_chain

    verdict = with_engine(_db(args), verify_chain)
    if verdict.broken_id is None:
        # The last hash, to compare with one kept elsewhere (the console's log has each entry's):
        # a chain cut short at its end is otherwise still a valid chain.
        print(f"audit: OK ({verdict.count} entries, last hash {verdict.head})")
        return 0
    print(
        f"audit: BROKEN at entry id {verdict.broken_id} ({verdict.problem}); "
        f"the {verdict.count} entries before it are intact",
        file=sys.stderr,
    )
    return 1


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(
            f"console: cannot listen on {host}:{port}: {exc.strerror} (choose --port)"
        ) from None
    return sock


def _check_database(url: str) -> None:
    from callguard.store import make_engine, migrate

    async def go() -> None:
        engine = make_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(go())
    except Exception as exc:  # any driver's error: one sentence, not a traceback
        where = url.split("@")[-1]  # never print a password in the URL
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(f"console: database {where}: unreachable: {reason}") from None


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from callguard.web.app import create_app

    config = load_config(args.config)
    from callguard.logs import configure_logging
    from callguard.policy.masking import number_keeper

    # JSON lines on stdout like the service's (the service's [log] file is its own).
    keep = number_keeper(config) if config.log.mask_numbers else None
    configure_logging(config.log.level, "", keep)
    host, port = args.host or config.console.host, args.port or config.console.port
    sock = _listen(host, port)
    _check_database(config.database.url)
    # X-Forwarded-For is believed from [console] trusted_proxies only (the audit records who
    # read, not the proxy). No access log: its lines would carry the query strings (numbers
    # searched for, SEC-2), and the read audit already says who read what.
    proxies = list(config.console.trusted_proxies)
    options = uvicorn.Config(
        create_app(config),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        access_log=False,
        log_level="info",
    )
    server = uvicorn.Server(options)
    print(f"console: http://{host}:{port}/", file=sys.stderr)
    server.run(sockets=[sock])
    return 0


def add_commands(sub: Any) -> None:
    """`callguard web`, `user`, `token` and `audit` (registered by callguard.cli)."""
    s = sub.add_parser("web", help="run the console (web pages and the HTTP API)")
    s.add_argument("--config", required=True)
    s.add_argument("--host", help="default [console] host (127.0.0.1)")
    s.add_argument("--port", type=int, help="default [console] port (8480)")
    s.set_defaults(func=cmd_web)
    _add_user_commands(sub)
    _add_token_commands(sub)
    audit = sub.add_parser("audit", help="the console's read audit (LOG-3)").add_subparsers(
        dest="audit_cmd", required=True
    )
    s = audit.add_parser("verify", help="check the hash chain; exit 1 at the first broken link")
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_audit_verify)


def _add_user_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="console accounts").add_subparsers(dest="user_cmd", required=True)
    s = user.add_parser("add", help="add an account for a person of the directory (password from stdin)")
    s.add_argument("person", help="a person id from directory.toml (the account's name)")
    s.add_argument("--role", required=True, choices=ROLES)
    database_options(s, "callguard.toml (its directory and database)")
    s.set_defaults(func=cmd_user_add)
    s = user.add_parser("list", help="list accounts")
    s.add_argument("--json", action="store_true")
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_user_list)
    for name, helptext in (
        ("disable", "disable an account (its sessions end)"),
        ("enable", "enable it again"),
    ):
        s = user.add_parser(name, help=helptext)
        s.add_argument("user")
        database_options(s, "callguard.toml")
        s.set_defaults(func=cmd_user_disable)
    _add_account_changes(user)


def _add_account_changes(user: Any) -> None:
    s = user.add_parser("password", help="set a new password (from stdin); its sessions end")
    s.add_argument("user")
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_user_password)
    s = user.add_parser("role", help="change an account's role; its sessions end")
    s.add_argument("user")
    s.add_argument("--role", required=True, choices=ROLES)
    database_options(s, "callguard.toml (its directory and database)")
    s.set_defaults(func=cmd_user_role)


def _add_token_commands(sub: Any) -> None:
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_cmd", required=True)
    s = token.add_parser("create", help="create a token for an account (printed once)")
    s.add_argument("--user", required=True)
    s.add_argument("--name", default="api")
    s.add_argument(
        "--days",
        type=int,
        default=accounts.TOKEN_DAYS,
        help=f"how long it works (default {accounts.TOKEN_DAYS}, at most {accounts.MAX_TOKEN_DAYS})",
    )
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_token_create)
    s = token.add_parser("list", help="list tokens (never their secret)")
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_token_list)
    s = token.add_parser("revoke", help="revoke a token by id")
    s.add_argument("id", type=int)
    database_options(s, "callguard.toml")
    s.set_defaults(func=cmd_token_revoke)
