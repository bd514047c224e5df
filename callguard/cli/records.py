"""`callguard calls list | messages list|done | cdr import`: reading call records (LOG-1, XFER-3)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from callguard.cli.common import database_options, fail, lab_or_none, parse_since, with_engine
from callguard.config import load_config


def cmd_calls_list(args: argparse.Namespace) -> int:
    from callguard.store import list_calls
    from callguard.store.text import call_line

    calls = with_engine(args, lambda engine: list_calls(engine, since=args.since, limit=args.limit))
    if args.json:
        print(json.dumps(calls, ensure_ascii=False, indent=2))
    else:
        for c in reversed(calls):
            print(call_line(c))
        print(f"({len(calls)} calls)")
    return 0


def cmd_messages_list(args: argparse.Namespace) -> int:
    """XFER-3: the messages callers left, oldest first."""
    from callguard.store import list_messages

    rows = with_engine(args, lambda engine: list_messages(engine, args.for_ext, args.all))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        left = datetime.fromisoformat(r["left_at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        caller = f"{r['caller_number']} {r['caller_name'] or ''}".strip()
        done = f"  done {r['done_at']} by {r['done_by']}" if r["done_at"] else ""
        length = f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else "?"
        print(f"{r['id']:>5}  {left}  for {r['for_ext']} {r['for_person'] or '-':<12} from {caller}  "
              f"{length}  {r['recording']}{done}")  # fmt: skip
    print(f"({len(rows)} messages)")
    return 0


def cmd_messages_done(args: argparse.Namespace) -> int:
    from callguard.store import mark_message_done

    if not with_engine(args, lambda engine: mark_message_done(engine, args.id, args.by)):
        return fail(f"no open message with id {args.id}")
    print(f"message {args.id} marked as passed on")
    return 0


def cmd_cdr_import(args: argparse.Namespace) -> int:
    """LOG-1: record the calls the dialplan handled alone from Asterisk's CDR, now (the service
    does it at start and at each ARI/AMI reconnect)."""
    from callguard.dialplan_calls import CdrImporter, DialplanRecords
    from callguard.events.notifier import Emitter
    from callguard.policy import Directory

    if args.config:
        config = load_config(args.config)
    else:
        lab = lab_or_none(args.state_dir)
        if lab is None or lab.state is None:
            return fail("say which configuration applies: --config FILE (or start the lab)")
        config = load_config(lab.state.config_path)
    path = Path(args.file or config.cdr.file)
    path = path if path.is_absolute() else config.source.parent / path
    if not path.is_file():
        return fail(f'{path}: no such CDR file (see README "Call records" for the CDR set-up)')
    if args.db is None:
        args.db = config.database.url
    node = config.service.node
    records = DialplanRecords(Directory(config.directory), config.outbound, node)
    result = with_engine(
        args, lambda engine: CdrImporter(engine, path, records, node, Emitter(None)).import_once()
    )
    if result is None:
        return fail(f"{path}: not imported")
    print(
        f"{path}: {result.rows} new rows read, {result.imported} calls recorded (handled by the "
        f"dialplan), {result.skipped} already recorded, {result.bad} not in callguard's format"
    )
    return 0


def add_cdr_commands(sub: Any) -> None:
    """`cdr import` (LOG-1)."""
    cdr = sub.add_parser("cdr", help="Asterisk's CDR (LOG-1)").add_subparsers(dest="cdr_cmd", required=True)
    s = cdr.add_parser("import", help="record the calls the dialplan handled alone, from the CDR file")
    s.add_argument("--config", help="callguard.toml (default: the running lab's)")
    s.add_argument("--file", help="the cdr_custom CSV (default: [cdr] file)")
    s.add_argument("--db", help="database URL (default: the config's)")
    s.add_argument("--state-dir", help="lab state directory")
    s.set_defaults(func=cmd_cdr_import)


def add_calls_commands(sub: Any) -> None:
    """`calls list`."""
    calls = sub.add_parser("calls", help="call records").add_subparsers(dest="calls_cmd", required=True)
    s = calls.add_parser("list", help="print call records, oldest first")
    database_options(s)
    s.add_argument("--since", type=parse_since, help="30m, 2h, 7d or an ISO time")
    s.add_argument("--limit", type=int, default=200)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_calls_list)


def add_messages_commands(sub: Any) -> None:
    """`messages list|done` (XFER-3)."""
    messages = sub.add_parser("messages", help="messages callers left (XFER-3)").add_subparsers(
        dest="messages_cmd", required=True
    )
    for name, func, helptext in (
        ("list", cmd_messages_list, "print messages not yet passed on (--all: every one)"),
        ("done", cmd_messages_done, "mark a message as passed on"),
    ):
        s = messages.add_parser(name, help=helptext)
        database_options(s)
        s.set_defaults(func=func)
        if name == "list":
            s.add_argument("--for", dest="for_ext", help="only messages for this extension")
            s.add_argument("--all", action="store_true", help="include messages already passed on")
            s.add_argument("--json", action="store_true")
        else:
            s.add_argument("id", type=int)
            s.add_argument("--by", default="", help="who passed it on")
