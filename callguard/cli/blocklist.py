"""`callguard block add|remove|list`: the blocklist of outside callers (SEC-1)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from callguard.cli.common import database_options, fail, with_engine
from callguard.config import load_config

if TYPE_CHECKING:
    from callguard.policy.numbers import Numbering


def cmd_block_add(args: argparse.Namespace) -> int:
    """SEC-1: refuse this outside number (or every number with this prefix) politely."""
    from callguard.policy import BlockEntry
    from callguard.store import add_block

    typed = " ".join(args.number)
    numbering = _numbering(args)
    # Stored in SEC-1's normal form, so that the block holds whatever form the trunk sends.
    pattern = numbering.canonical_prefix(typed) if args.prefix else numbering.canonical(typed)
    if pattern is None or len(pattern) > 64:
        kind = "prefix (a whole area code after +86)" if args.prefix else "phone number"
        return fail(f"{typed!r}: not a {kind}: digits, + and separators ( ) - . space")
    until = datetime.now(UTC) + timedelta(minutes=args.minutes) if args.minutes else None
    entry = BlockEntry(pattern=pattern, prefix=args.prefix, reason=args.reason, added_by=args.by, until=until)
    ident = with_engine(args, lambda engine: add_block(engine, entry))
    what = "numbers starting with" if args.prefix else "number"
    print(f"blocked {what} {pattern} (id {ident}); callguard applies it within seconds")
    return 0


def _numbering(args: argparse.Namespace) -> Numbering:
    """The numbering plan of --config's file, else the built-in Chinese one."""
    from callguard.policy.numbers import Numbering

    return Numbering(load_config(args.config).outbound.numbering if args.config else None)


async def _remove_blocks(engine: Any, what: str, patterns: set[str]) -> int:
    """Remove by id or the pattern as typed, and by the number's normal forms (never as ids)."""
    from sqlalchemy import delete

    from callguard.store import remove_block
    from callguard.store.models import BlockRow

    removed = int(await remove_block(engine, what))
    if patterns - {what}:
        async with engine.begin() as conn:
            result = await conn.execute(delete(BlockRow).where(BlockRow.pattern.in_(patterns - {what})))
            removed += int(result.rowcount or 0)
    return removed


def cmd_block_remove(args: argparse.Namespace) -> int:
    what = " ".join(args.what)
    numbering = _numbering(args)
    forms = {numbering.canonical(what), numbering.canonical_prefix(what)}
    patterns = {form for form in forms if form}
    removed = with_engine(args, lambda engine: _remove_blocks(engine, what, patterns))
    if not removed:
        return fail(f"nothing on the blocklist matches {what!r}")
    print(f"removed {removed} entr{'y' if removed == 1 else 'ies'}")
    return 0


def cmd_block_list(args: argparse.Namespace) -> int:
    from callguard.store import list_blocks

    rows = with_engine(args, list_blocks)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        pattern = r["pattern"] + ("*" if r["prefix"] else "")
        until = f"until {r['until']}" if r["until"] else "until removed"
        print(f"{r['id']:>5}  {pattern:<20} {until:<40} by {r['added_by']}: {r['reason']}")
    print(f"({len(rows)} entries in force)")
    return 0


def add_commands(sub: Any) -> None:
    """`block add|remove|list` (SEC-1)."""
    block = sub.add_parser("block", help="the blocklist of outside callers (SEC-1)").add_subparsers(
        dest="block_cmd", required=True
    )
    for name, func, helptext in (
        ("add", cmd_block_add, "refuse an outside number or prefix politely"),
        ("remove", cmd_block_remove, "remove entries by id or by number/prefix"),
        ("list", cmd_block_list, "print the entries in force"),
    ):
        s = block.add_parser(name, help=helptext)
        database_options(s)
        s.set_defaults(func=func)
        if name == "add":
            s.add_argument(
                "number", nargs="+", help="the caller's number in any form: +86 138-0013-8000, 010 1234 5678"
            )
            s.add_argument("--prefix", action="store_true", help="block every number starting with it")
            s.add_argument("--reason", required=True)
            s.add_argument("--by", required=True, help="who decided it")
            s.add_argument("--minutes", type=float, help="lift the block after this long (default: never)")
        elif name == "remove":
            s.add_argument("what", nargs="+", help="an entry id, or the number/prefix (any form)")
        else:
            s.add_argument("--json", action="store_true")
