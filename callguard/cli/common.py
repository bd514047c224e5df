"""What every `callguard` command shares: one-line failures, --since, and where records are read."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callguard.config import load_config

if TYPE_CHECKING:
    from callguard.lab.lab import Lab


class CommandError(Exception):
    """A command cannot do what was asked: printed as one line."""


def fail(message: str, code: int = 1) -> int:
    print(f"callguard: {message}", file=sys.stderr)
    return code


def lab_installed() -> bool:
    """The lab ships in the repository, not in the product wheel: a checkout has it, an install not."""
    return find_spec("callguard.lab") is not None


def lab_or_none(state_dir: str | None) -> Lab | None:
    """The lab of --state-dir (or the default one) when the lab is installed, running or not."""
    if not lab_installed():
        return None
    from callguard.lab.lab import Lab

    return Lab(Path(state_dir) if state_dir else None)


def parse_since(value: str) -> datetime:
    m = re.fullmatch(r"(\d+)([smhd])", value.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since: {value!r} is neither a duration (30m, 2h, 7d) nor an ISO time"
        ) from None
    # A time without a zone is local time, as `calls list` prints it.
    return parsed if parsed.tzinfo else parsed.astimezone()


def database_options(s: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """Where a command reads records: `--config FILE`, `--db URL`, else the lab's database."""
    s.add_argument("--config", help=config_help)
    s.add_argument("--db", help="database URL (instead of --config)")
    s.add_argument("--state-dir", help="lab state directory (default: the lab's, running or not)")


def database_url(args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    if args.config:
        return load_config(args.config).database.url
    lab = lab_or_none(args.state_dir)
    if lab is None:
        raise CommandError("say which records to read: --config FILE or --db URL")
    if lab.state is not None:
        return lab.state.database_url
    # The lab is down, but its records stay (the demo stops the lab when it is done).
    if (lab.state_dir / "calls.db").exists():
        return f"sqlite+aiosqlite:///{lab.state_dir / 'calls.db'}"
    raise CommandError("say which records to read: --config FILE, --db URL, or start the lab")


def with_engine(args: argparse.Namespace, work: Any) -> Any:
    """Run `work(engine)` against the database the arguments name (schema brought up to date)."""
    from callguard.store import make_engine, migrate

    async def go() -> Any:
        engine = make_engine(database_url(args))
        try:
            await migrate(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def log_event(event: str, **fields: Any) -> None:
    """A CLI action's log line (JSON on stderr, as the service logs): who changed what (LOG-5)."""
    line = {"event": event, **fields, "level": "info", "timestamp": datetime.now(UTC).isoformat()}
    print(json.dumps(line, ensure_ascii=False), file=sys.stderr)
