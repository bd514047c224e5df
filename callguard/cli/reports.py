"""`callguard bill | report | export | db backup | db prune`: read the records, compute here, print
or write. Every command takes --config FILE | --db URL (default: the lab's records)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callguard.cli.common import database_options, database_url, fail, lab_or_none, with_engine
from callguard.config import Config, load_config
from callguard.reports.inputs import bill_inputs

if TYPE_CHECKING:  # the parsers are built on every `callguard` run: the rest loads when used
    from sqlalchemy.ext.asyncio import AsyncEngine


def _config(args: argparse.Namespace) -> Config | None:
    """--config's file; without --config/--db, the lab's own config when a lab has run."""
    if args.config:
        return load_config(args.config)
    if args.db:
        return None
    lab = lab_or_none(args.state_dir)  # None in an installed wheel: the lab is not shipped
    if lab is None:
        return None
    path = lab.state_dir / "config" / "callguard.toml"
    return load_config(path) if path.exists() else None


def _month_arg(value: str) -> str:
    """--month as argparse checks it: a bad one is a one-line usage error."""
    import re

    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a month like 2026-11")
    return value


def _month(args: argparse.Namespace) -> str:
    return str(args.month)


def _month_inputs(args: argparse.Namespace) -> tuple[str, list[Any], Any, Any, Any]:
    """What a bill and a report read: the month's calls, the budgets and who is who."""
    from callguard.store.archive import read_month

    month, config = _month(args), _config(args)

    async def work(engine: AsyncEngine) -> tuple[list[Any], Any, Any, Any]:
        budgets, who, names = await bill_inputs(engine, config)
        return await read_month(engine, month), budgets, who, names

    calls, budgets, who, names = with_engine(args, work)
    return month, calls, budgets, who, names


def _write(data: bytes, out: str | None) -> None:
    if out:
        Path(out).write_bytes(data)
        print(f"{out}: written", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def cmd_bill(args: argparse.Namespace) -> int:
    """LOG-4: the month's phone bill (每月公布话费账单)."""
    from callguard.reports.bills import monthly_bill
    from callguard.reports.render import bill_csv, bill_html, bill_text

    month, calls, budgets, who, names = _month_inputs(args)
    bill = monthly_bill(
        month, calls, department=args.department, budgets=budgets, people=who, department_names=names
    )
    if args.format == "csv":
        _write(bill_csv(bill), args.out)
    elif args.format == "html":
        _write(bill_html(bill).encode("utf-8"), args.out)
    else:
        _write(bill_text(bill).encode("utf-8"), args.out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """LOG-6: answering compliance, outside calls and violations per person and department."""
    from callguard.reports.compliance import compliance
    from callguard.reports.render import compliance_text, jsonable

    month, calls, budgets, who, names = _month_inputs(args)
    report = compliance(
        month, calls, department=args.department, budgets=budgets, people=who, department_names=names
    )
    if args.json:
        print(json.dumps(jsonable(report), ensure_ascii=False, indent=2))
    else:
        print(compliance_text(report), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """LOG-2: every field of a month's calls, with legs, violations and messages."""
    from callguard.reports.archive import export_csv, export_jsonl
    from callguard.store.archive import read_month

    month = _month(args)
    calls = with_engine(args, lambda engine: read_month(engine, month))
    _write(export_csv(calls) if args.format == "csv" else export_jsonl(calls), args.out)
    if args.out:
        print(f"{len(calls)} calls of {month}", file=sys.stderr)
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    """LOG-2: a consistent copy of the SQLite database while callguard runs; PostgreSQL: pg_dump."""
    from callguard.store.archive import backup_sqlite, pg_dump_command, sqlite_path

    url = database_url(args)
    source = sqlite_path(url)
    if source is None:
        return fail(f"not a SQLite database; back up PostgreSQL with: {pg_dump_command(url, args.file)}", 2)
    try:
        count = backup_sqlite(source, Path(args.file))
    except (OSError, FileNotFoundError) as exc:
        return fail(f"{args.file}: backup failed: {exc}")
    print(f"{args.file}: backup of {source} ({count} calls)")
    return 0


def _bills_dir(args: argparse.Namespace, config: Config | None) -> Path | None:
    from callguard.store.archive import sqlite_path

    if args.bills_dir:
        return Path(args.bills_dir)
    if args.config and config is not None:
        return Path(config.service.state_dir) / "bills"
    source = sqlite_path(database_url(args))  # the lab's: beside its database
    return source.parent / "bills" if source else None


def cmd_db_prune(args: argparse.Namespace) -> int:
    """LOG-2: delete whole months past the retention, each month's bill written first."""
    from callguard.reports.archive import prune

    config = _config(args)
    months = args.months if args.months is not None else (config.records.retention_months if config else None)
    if months is None:
        return fail("say how long records are kept: --months N or --config FILE ([records] retention_months)")
    bills = _bills_dir(args, config)
    if bills is None:
        return fail("say where the bills of pruned months go: --bills-dir DIR")

    async def work(engine: AsyncEngine) -> Any:
        inputs = await bill_inputs(engine, config)
        return await prune(
            engine,
            now=datetime.now(UTC),
            retention_months=months,
            bills_dir=bills,
            dry_run=args.dry_run,
            bill_inputs=lambda: inputs,
        )

    result = with_engine(args, work)
    if result.before is None:
        print("retention_months = 0: records are kept for ever; nothing pruned")
        return 0
    if not result.months:
        print(f"nothing to prune: no records from {result.before} or before")
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for m in result.months:
        kept = f", kept {m.kept} with a violation under appeal" if m.kept else ""
        print(f"{m.month}: {verb} {m.calls} calls{kept}; bill {m.bill}")
    print(f"(months up to {result.before} are past the {months}-month retention)")
    return 0


def add_commands(sub: Any, db: Any) -> None:
    """The parsers of `bill`, `report`, `export` (on `sub`) and `backup`, `prune` (on `db`)."""

    s = sub.add_parser("bill", help="the month's phone bill per department and person (LOG-4)")
    database_options(s)
    s.add_argument("--month", required=True, type=_month_arg, help="YYYY-MM (local time)")
    s.add_argument("--department", help="one department's bill (its id)")
    s.add_argument("--format", choices=("text", "csv", "html"), default="text")
    s.add_argument("--out", help="write to this file (default: stdout)")
    s.set_defaults(func=cmd_bill)

    s = sub.add_parser("report", help="answering compliance per person and department (LOG-6)")
    database_options(s)
    s.add_argument("--month", required=True, type=_month_arg, help="YYYY-MM (local time)")
    s.add_argument("--department", help="one department (its id)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("export", help="every field of a month's calls (LOG-2)")
    database_options(s)
    s.add_argument("--month", required=True, type=_month_arg, help="YYYY-MM (local time)")
    s.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    s.add_argument("--out", help="write to this file (default: stdout)")
    s.set_defaults(func=cmd_export)

    s = db.add_parser("backup", help="copy the SQLite database while callguard runs (LOG-2)")
    database_options(s)
    s.add_argument("file", help="the backup file to write")
    s.set_defaults(func=cmd_db_backup)

    s = db.add_parser("prune", help="delete months past [records] retention_months (LOG-2)")
    database_options(s)
    s.add_argument("--months", type=int, help="months to keep (default: [records] retention_months)")
    s.add_argument("--bills-dir", help="where each pruned month's bill goes (default: <state_dir>/bills)")
    s.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    s.set_defaults(func=cmd_db_prune)
