"""The `callguard` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callguard.config import CallSettings, ConfigError, load_config
from callguard.lab.errors import LabError

if TYPE_CHECKING:
    from callguard.policy.numbers import Numbering


def _fail(message: str, code: int = 1) -> int:
    print(f"callguard: {message}", file=sys.stderr)
    return code


def _parse_since(value: str) -> datetime:
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


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    from callguard.dialplan import include_problem

    # The fail-safe dialplan must say what this configuration says (OUT-5, OUT-6).
    stale = include_problem(config)
    if stale is not None:
        print(stale, file=sys.stderr)
        return 1
    d = config.directory
    print(f"{args.path}: ok ({len(d.departments)} departments, {len(d.people)} people, {len(d.lines)} lines)")
    return 0


def cmd_dialplan_render(args: argparse.Namespace) -> int:
    """Write the generated dialplan include for this configuration (stdout without --out)."""
    from callguard.dialplan import render_dialplan

    text = render_dialplan(load_config(args.config))
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"{args.out}: cannot be written: {exc.strerror}")
    print(f"{args.out}: written; reload Asterisk's dialplan (`asterisk -rx 'dialplan reload'`)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from callguard.logs import configure_logging, number_keeper
    from callguard.service import run_service

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return _fail("refusing to start on a bad configuration", 2)
    if config.log.file:
        from callguard.files import create_private

        try:  # caller data: created 0600 before the logger opens it
            create_private(Path(config.log.file))
        except OSError as exc:
            return _fail(f"log file {config.log.file}: cannot be created: {exc.strerror}", 2)
    # SEC-2: [log] mask_numbers hides outside numbers in every log line.
    configure_logging(
        config.log.level, config.log.file, number_keeper(config) if config.log.mask_numbers else None
    )
    from callguard.store import JournalInUse

    try:
        asyncio.run(run_service(config))
    except JournalInUse as exc:  # LOG-2: two processes never share one journal
        return _fail(str(exc), 2)
    return 0


def database_options(s: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """Where a command reads records: `--config FILE`, `--db URL`, else the lab's database."""
    s.add_argument("--config", help=config_help)
    s.add_argument("--db", help="database URL (instead of --config)")
    s.add_argument("--state-dir", help="lab state directory (default: the lab's, running or not)")


def _database_url(args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    if args.config:
        return load_config(args.config).database.url
    from callguard.lab.lab import Lab

    lab = Lab(Path(args.state_dir) if args.state_dir else None)
    if lab.state is not None:
        return lab.state.database_url
    # The lab is down, but its records stay (the demo stops the lab when it is done).
    if (lab.state_dir / "calls.db").exists():
        return f"sqlite+aiosqlite:///{lab.state_dir / 'calls.db'}"
    raise LabError("say which records to read: --config FILE, --db URL, or start the lab")


def _with_engine(args: argparse.Namespace, work: Any) -> Any:
    """Run `work(engine)` against the database the arguments name (schema brought up to date)."""
    from callguard.store import make_engine, migrate

    async def go() -> Any:
        engine = make_engine(_database_url(args))
        try:
            await migrate(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def cmd_calls_list(args: argparse.Namespace) -> int:
    from callguard.store import list_calls
    from callguard.store.text import call_line

    calls = _with_engine(args, lambda engine: list_calls(engine, since=args.since, limit=args.limit))
    if args.json:
        print(json.dumps(calls, ensure_ascii=False, indent=2))
    else:
        for c in reversed(calls):
            print(call_line(c))
        print(f"({len(calls)} calls)")
    return 0


def cmd_violations_list(args: argparse.Namespace) -> int:
    from callguard.store import list_violations
    from callguard.store.text import violation_line

    rows = _with_engine(
        args, lambda engine: list_violations(engine, since=args.since, limit=args.limit, person=args.person)
    )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))  # money as "50.00"
    else:
        for row in reversed(rows):
            print(violation_line(row))
        owed = sum(r["fine_yuan"] for r in rows if r["status"] != "overturned")  # LOG-5
        print(f"({len(rows)} violations, fines {owed:.2f} 元 not overturned)")
    return 0


def _log_event(event: str, **fields: Any) -> None:
    """A CLI action's log line (JSON on stderr, as the service logs): who changed what (LOG-5)."""
    line = {"event": event, **fields, "level": "info", "timestamp": datetime.now(UTC).isoformat()}
    print(json.dumps(line, ensure_ascii=False), file=sys.stderr)


def _ladder_change(args: argparse.Namespace, work: Any, event: str, fields: dict[str, Any]) -> int:
    from callguard.policy.ladder import AppealError

    try:
        row = _with_engine(args, work)
    except AppealError as exc:
        return _fail(str(exc))
    _log_event(event, id=row["id"], rule="LOG-5", violation_rule=row["rule"], person=row["person"], **fields)
    print(f"violation {row['id']} ({row['rule']}, {row['person']}, {row['step']}): {row['status']}")
    return 0


def cmd_violations_appeal(args: argparse.Namespace) -> int:
    """LOG-5: the person appeals within the working days the ladder allows."""
    from callguard.store.ladder import appeal

    now = datetime.now(UTC)
    work = lambda engine: appeal(engine, args.id, args.reason, args.by, now)  # noqa: E731
    return _ladder_change(args, work, "violation.appealed", {"by": args.by, "reason": args.reason})


def cmd_violations_decide(args: argparse.Namespace) -> int:
    """LOG-5: an administrator upholds or overturns, with a reason."""
    from callguard.store.ladder import decide

    now = datetime.now(UTC)
    work = lambda engine: decide(engine, args.id, args.uphold, args.reason, args.by, now)  # noqa: E731
    fields = {"by": args.by, "reason": args.reason, "decision": "upheld" if args.uphold else "overturned"}
    return _ladder_change(args, work, "violation.decided", fields)


def cmd_violations_show(args: argparse.Namespace) -> int:
    """A violation and every change made to it, with who and when."""
    from callguard.policy.ladder import AppealError
    from callguard.store.ladder import violation_history
    from callguard.store.text import violation_line

    try:
        row = _with_engine(args, lambda engine: violation_history(engine, args.id))
    except AppealError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return 0
    print(violation_line(row))
    for e in row["events"]:
        at = datetime.fromisoformat(e["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        detail = json.dumps(e["detail"] or {}, ensure_ascii=False)
        print(f"  {at}  {e['action']:<14} by {e['by']}: {e['reason'] or '-'}  {detail}")
    return 0


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
        return _fail(f"{typed!r}: not a {kind}: digits, + and separators ( ) - . space")
    until = datetime.now(UTC) + timedelta(minutes=args.minutes) if args.minutes else None
    entry = BlockEntry(pattern=pattern, prefix=args.prefix, reason=args.reason, added_by=args.by, until=until)
    ident = _with_engine(args, lambda engine: add_block(engine, entry))
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
    removed = _with_engine(args, lambda engine: _remove_blocks(engine, what, patterns))
    if not removed:
        return _fail(f"nothing on the blocklist matches {what!r}")
    print(f"removed {removed} entr{'y' if removed == 1 else 'ies'}")
    return 0


def cmd_block_list(args: argparse.Namespace) -> int:
    from callguard.store import list_blocks

    rows = _with_engine(args, list_blocks)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        pattern = r["pattern"] + ("*" if r["prefix"] else "")
        until = f"until {r['until']}" if r["until"] else "until removed"
        print(f"{r['id']:>5}  {pattern:<20} {until:<40} by {r['added_by']}: {r['reason']}")
    print(f"({len(rows)} entries in force)")
    return 0


def cmd_messages_list(args: argparse.Namespace) -> int:
    """XFER-3: the messages callers left, oldest first."""
    from callguard.store import list_messages

    rows = _with_engine(args, lambda engine: list_messages(engine, args.for_ext, args.all))
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

    if not _with_engine(args, lambda engine: mark_message_done(engine, args.id, args.by)):
        return _fail(f"no open message with id {args.id}")
    print(f"message {args.id} marked as passed on")
    return 0


def cmd_pin_set(args: argparse.Namespace) -> int:
    """Store a person's authorization code (OUT-3) hashed; the PIN comes from stdin, never argv."""
    import getpass

    from callguard.config.pinfile import pin_settings, set_pin
    from callguard.policy import PinError

    if args.config:
        try:
            path, min_digits = pin_settings(Path(args.config))
        except ConfigError as exc:
            return _fail(exc.problems[0])
    else:
        path, min_digits = Path(args.file), args.min_digits
    pin = getpass.getpass("PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        set_pin(path, args.person, pin, min_digits)
    except PinError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{path}: cannot be written: {exc.strerror}")
    print(f"{path}: PIN set for {args.person}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from callguard.store import make_engine, migrate

    async def go() -> None:
        engine = make_engine(load_config(args.config).database.url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())
    print("database schema is current")
    return 0


def _lab(args: argparse.Namespace) -> Any:
    from callguard.lab.lab import Lab, LabPorts

    ports = LabPorts(offset=getattr(args, "port_offset", 0))
    return Lab(Path(args.state_dir) if args.state_dir else None, ports)


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    state = lab.up(phones=not args.no_phones)
    print(
        f"lab is up: Asterisk SIP {state.sip_host}:{state.sip_port}, ARI {state.ari_url}, "
        f"MQTT {state.mqtt_host}:{state.mqtt_port}"
    )
    print(f"state: {lab.state_file}  (callguard lab status --json)")
    print(f"records: {state.database_url}  (callguard calls list)")
    from callguard.lab.lab import LAB_PINS

    print("authorization codes set by the lab (OUT-3): " + ", ".join(f"{p} {c}" for p, c in LAB_PINS.items()))
    if args.detach:
        return 0
    print("press Ctrl-C to stop the lab")
    # SIGTERM (systemd, kill) stops the lab as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    lab.down()
    print("lab is down")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    status = _lab(args).status()
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        for name, alive in status["running"].items():
            print(f"{name:<16} {'running' if alive else 'STOPPED'}  pid {status['pids'][name]}")
        print(
            f"ARI {status['ari_url']}  SIP {status['sip_host']}:{status['sip_port']}  "
            f"MQTT {status['mqtt_host']}:{status['mqtt_port']}"
        )
        print(f"records {status['database_url']}")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    lab.down()
    print("lab is down")
    return 0


def cmd_lab_demo(args: argparse.Namespace) -> int:
    from callguard.lab.demo import run_demo

    return asyncio.run(run_demo(Path(args.state_dir) if args.state_dir else None))


def cmd_bench(args: argparse.Namespace) -> int:
    from callguard.lab.bench import run_bench

    return run_bench(
        rate=args.rate,
        count=args.count,
        max_calls_in_setup=args.max_calls_in_setup,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        media=args.media,
    )


def cmd_bench_rings(args: argparse.Namespace) -> int:
    from callguard.lab.bench_rings import run_bench_rings

    return run_bench_rings(args.calls, args.cadence, Path(args.state_dir) if args.state_dir else None)


def _add_violations_commands(sub: Any) -> None:
    """`violations list|show|appeal|decide`: the ledger and its ladder (LOG-5)."""
    violations = sub.add_parser("violations", help="the violations ledger").add_subparsers(
        dest="violations_cmd", required=True
    )
    for name, func, helptext in (
        ("list", cmd_violations_list, "print violations (rule, person, fine, step, status), oldest first"),
        ("show", cmd_violations_show, "print a violation and every change made to it"),
        ("appeal", cmd_violations_appeal, "the person appeals within the deadline"),
        ("decide", cmd_violations_decide, "an administrator upholds or overturns"),
    ):
        s = violations.add_parser(name, help=helptext)
        database_options(s)
        s.set_defaults(func=func)
        if name == "list":
            s.add_argument("--person", help="only this person's violations (a person id)")
            s.add_argument("--since", type=_parse_since, help="30m, 2h, 7d or an ISO time")
            s.add_argument("--limit", type=int, default=500)
        else:
            s.add_argument("id", type=int, help="the violation's id (violations list)")
        if name in ("list", "show"):
            s.add_argument("--json", action="store_true")
        if name == "appeal":
            s.add_argument("--reason", required=True, help="why the person disagrees")
            s.add_argument("--by", help="who appeals (default: the violation's person)")
        if name == "decide":
            outcome = s.add_mutually_exclusive_group(required=True)
            outcome.add_argument("--uphold", action="store_true", help="the violation stands")
            outcome.add_argument("--overturn", action="store_true", help="it no longer counts")
            s.add_argument("--reason", required=True)
            s.add_argument("--by", required=True, help="the administrator who decides")


def _costs_config(args: argparse.Namespace) -> Any:
    """The configuration whose tariffs and budgets apply: --config, else the lab's (if any)."""
    if args.config:
        return load_config(args.config)
    if args.db:
        return None
    from callguard.lab.lab import Lab

    lab = Lab(Path(args.state_dir) if args.state_dir else None)
    return load_config(lab.state.config_path) if lab.state is not None else None


def _month(value: str) -> str:
    from callguard.policy.budgets import valid_month

    if not valid_month(value):
        raise argparse.ArgumentTypeError(f"--month: {value!r} is not a month (YYYY-MM)")
    return value


def cmd_rerate(args: argparse.Namespace) -> int:
    """LOG-4: re-price a month's answered outside calls with the tariffs configured now."""
    from callguard.policy.tariffs import TariffTable
    from callguard.store.costs import rerate

    config = _costs_config(args)
    if config is None or not config.tariffs:
        return _fail("no tariffs: give --config FILE whose [[tariffs]] (or [outbound] tariffs file) apply")
    table = TariffTable(config.tariffs)
    done = _with_engine(args, lambda engine: rerate(engine, args.month, table))
    print(
        f"{args.month}: {done.changed} of {done.calls} answered outside calls re-priced; "
        f"total {done.before} 元 before, {done.after} 元 after"
    )
    return 0


def cmd_budget_list(args: argparse.Namespace) -> int:
    """LOG-4: every budget (config, overridden by `budget set`) with the month's spend."""
    from callguard.config._models import BudgetSettings
    from callguard.policy.budgets import configured, month_of
    from callguard.store.budgets import stored_budgets
    from callguard.store.costs import month_spend

    config = _costs_config(args)
    settings = config.budgets if config is not None else BudgetSettings()
    month = args.month or month_of(datetime.now(UTC))

    async def work(engine: Any) -> list[dict[str, Any]]:
        budgets = configured(settings, await stored_budgets(engine))
        spend = await month_spend(engine, month, budgets.values())
        return [
            {
                "budget": key,
                "month": month,
                "amount": str(b.amount),
                "action": b.action,
                "downgrade_to": b.downgrade_to.value if b.action == "downgrade" else None,
                "spend": str(spend[key].quantize(Decimal("0.01"))),
                "used_pct": float(round(spend[key] * 100 / b.amount, 1)),
            }
            for key, b in sorted(budgets.items())
        ]

    rows = _with_engine(args, work)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        action = r["action"] + (f" to {r['downgrade_to']}" if r["downgrade_to"] else "")
        used = f"{r['spend']:>10} / {Decimal(r['amount']):>10.2f} 元  {r['used_pct']:>6}%"
        print(f"{r['budget']:<32} {used}  {action}")
    print(f"({len(rows)} budgets, {month})")
    return 0


def cmd_budget_set(args: argparse.Namespace) -> int:
    from callguard.config import ServiceClass
    from callguard.policy.budgets import Budget
    from callguard.store.budgets import set_budget

    try:
        amount = Decimal(args.amount)
    except ArithmeticError:
        return _fail(f"budget set: amount: {args.amount!r} is not an amount in 元")
    if not amount.is_finite() or amount <= 0:
        return _fail(f"budget set: amount: {args.amount!r} must be more than 0")
    budget = Budget(args.scope, args.name, amount, args.action, ServiceClass(args.downgrade_to))
    _with_engine(args, lambda engine: set_budget(engine, budget, args.by))
    # The budgets row keeps who set it and when (updated_by, updated_at).
    print(f"{budget.key}: {amount} 元 a month, at 100 %: {args.action} (set by {args.by})")
    return 0


def cmd_budget_remove(args: argparse.Namespace) -> int:
    from callguard.store.budgets import remove_budget

    key = f"{args.scope}:{args.name}"
    if not _with_engine(args, lambda engine: remove_budget(engine, args.scope, args.name)):
        return _fail(f"budget remove: {key}: no budget was set with `budget set`")
    print(f"{key}: removed by {args.by} (a budget in the config, if any, applies again)")
    return 0


def _add_cost_commands(sub: Any) -> None:
    """`rerate` and `budget list|set` (LOG-4)."""

    def where(s: argparse.ArgumentParser) -> None:
        database_options(s, "callguard.toml: its tariffs and budgets, and its database")

    s = sub.add_parser("rerate", help="re-price a month's outside calls with the tariffs configured now")
    s.add_argument("--month", type=_month, required=True, help="YYYY-MM (local time)")
    where(s)
    s.set_defaults(func=cmd_rerate)
    budget = sub.add_parser("budget", help="monthly budgets (LOG-4)").add_subparsers(
        dest="budget_cmd", required=True
    )
    s = budget.add_parser("list", help="budgets with this month's spend")
    s.add_argument("--month", type=_month, help="YYYY-MM (default: this month)")
    s.add_argument("--json", action="store_true")
    where(s)
    s.set_defaults(func=cmd_budget_list)
    s = budget.add_parser("set", help="set a department's or a person's monthly budget (overrides config)")
    s.add_argument("scope", choices=("department", "person"))
    s.add_argument("name", help="the department's or person's id")
    s.add_argument("amount", help="元 a month, e.g. 800 or 1200.50")
    s.add_argument("--action", choices=("alert", "downgrade", "block"), default="alert")
    s.add_argument("--downgrade-to", default="local", choices=("internal", "local", "national", "hk_macau"))
    s.add_argument("--by", required=True, help="who sets it")
    where(s)
    s.set_defaults(func=cmd_budget_set)
    s = budget.add_parser("remove", help="remove a budget set with `budget set`")
    s.add_argument("scope", choices=("department", "person"))
    s.add_argument("name")
    s.add_argument("--by", required=True, help="who removes it")
    where(s)
    s.set_defaults(func=cmd_budget_remove)


def cmd_cdr_import(args: argparse.Namespace) -> int:
    """LOG-1: record the calls the dialplan handled alone from Asterisk's CDR, now (the service
    does it at start and at each ARI/AMI reconnect)."""
    from callguard.dialplan_calls import CdrImporter, DialplanRecords
    from callguard.logs import Emitter
    from callguard.policy import Directory

    if args.config:
        config = load_config(args.config)
    else:
        from callguard.lab.lab import Lab

        lab = Lab(Path(args.state_dir) if args.state_dir else None)
        if lab.state is None:
            return _fail("say which configuration applies: --config FILE (or start the lab)")
        config = load_config(lab.state.config_path)
    path = Path(args.file or config.cdr.file)
    path = path if path.is_absolute() else config.source.parent / path
    if not path.is_file():
        return _fail(f'{path}: no such CDR file (see README "Call records" for the CDR set-up)')
    if args.db is None:
        args.db = config.database.url
    node = config.service.node
    records = DialplanRecords(Directory(config.directory), config.outbound, node)
    result = _with_engine(
        args, lambda engine: CdrImporter(engine, path, records, node, Emitter(None)).import_once()
    )
    if result is None:
        return _fail(f"{path}: not imported")
    print(
        f"{path}: {result.rows} new rows read, {result.imported} calls recorded (handled by the "
        f"dialplan), {result.skipped} already recorded, {result.bad} not in callguard's format"
    )
    return 0


def _add_cdr_commands(sub: Any) -> None:
    """`cdr import` (LOG-1)."""
    cdr = sub.add_parser("cdr", help="Asterisk's CDR (LOG-1)").add_subparsers(dest="cdr_cmd", required=True)
    s = cdr.add_parser("import", help="record the calls the dialplan handled alone, from the CDR file")
    s.add_argument("--config", help="callguard.toml (default: the running lab's)")
    s.add_argument("--file", help="the cdr_custom CSV (default: [cdr] file)")
    s.add_argument("--db", help="database URL (default: the config's)")
    s.add_argument("--state-dir", help="lab state directory")
    s.set_defaults(func=cmd_cdr_import)


def _add_report_commands(sub: Any, db: Any) -> None:
    """LOG-2/4/6: bill, report, export, db backup, db prune (callguard/reports/commands.py)."""
    from callguard.reports.commands import add_commands

    add_commands(sub, db)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callguard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("check-config", help="validate a callguard.toml and its directory")
    s.add_argument("path")
    s.set_defaults(func=cmd_check_config)

    dialplan = sub.add_parser("dialplan", help="the generated dialplan include").add_subparsers(
        dest="dialplan_cmd", required=True
    )
    s = dialplan.add_parser("render", help="write extensions_callguard_generated.conf from the config")
    s.add_argument("--config", required=True)
    s.add_argument("--out", help="the file to write (default: stdout)")
    s.set_defaults(func=cmd_dialplan_render)

    s = sub.add_parser("run", help="run the service beside Asterisk")
    s.add_argument("--config", required=True)
    s.set_defaults(func=cmd_run)

    calls = sub.add_parser("calls", help="call records").add_subparsers(dest="calls_cmd", required=True)
    s = calls.add_parser("list", help="print call records, oldest first")
    database_options(s)
    s.add_argument("--since", type=_parse_since, help="30m, 2h, 7d or an ISO time")
    s.add_argument("--limit", type=int, default=200)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_calls_list)

    _add_cost_commands(sub)
    _add_violations_commands(sub)
    _add_cdr_commands(sub)

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

    pin = sub.add_parser("pin", help="authorization codes (OUT-3)").add_subparsers(
        dest="pin_cmd", required=True
    )
    s = pin.add_parser("set", help="set a person's PIN (read from stdin) in the PIN file")
    s.add_argument("person", help="a person id from directory.toml")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--file", help="the PIN file ([outbound] pins)")
    where.add_argument("--config", help="callguard.toml: its [outbound] pins and pin_min_digits")
    s.add_argument(
        "--min-digits", type=int, default=6, choices=range(4, 13), metavar="4..12",
        help="with --file: shortest PIN accepted (default 6, as [outbound] pin_min_digits)",
    )  # fmt: skip
    s.set_defaults(func=cmd_pin_set)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    s = db.add_parser("upgrade", help="apply schema migrations")
    s.add_argument("--config", required=True)
    s.set_defaults(func=cmd_db_upgrade)
    _add_report_commands(sub, db)

    lab = sub.add_parser("lab", help="the local lab PBX").add_subparsers(dest="lab_cmd", required=True)
    for name, func, helptext in (
        ("up", cmd_lab_up, "start Asterisk, mosquitto, callguard and simulated phones"),
        ("status", cmd_lab_status, "show the running lab"),
        ("down", cmd_lab_down, "stop every lab process"),
        ("demo", cmd_lab_demo, "start the lab, place demo calls, print what happened"),
    ):
        s = lab.add_parser(name, help=helptext)
        s.add_argument("--state-dir", help="default: $XDG_STATE_HOME/callguard/lab")
        s.set_defaults(func=func)
        if name == "up":
            s.add_argument("--detach", action="store_true", help="return once everything is up")
            s.add_argument(
                "--no-phones",
                action="store_true",
                help="start no simulated phones or carrier (another program plays them)",
            )
            s.add_argument(
                "--port-offset",
                type=int,
                default=0,
                help="shift every lab port by this much (to run beside another lab)",
            )
        if name == "status":
            s.add_argument("--json", action="store_true")

    s = sub.add_parser("bench", help="load through plain dialplan and through callguard; print figures")
    s.add_argument("--rate", type=float, default=50.0, help="call attempts per second")
    s.add_argument("--count", type=int, default=500, help="calls per path")
    s.add_argument(
        "--max-calls-in-setup",
        type=int,
        default=CallSettings().max_calls_in_setup,
        help="callguard's load-shedding threshold ([calls] max_calls_in_setup)",
    )
    s.add_argument(
        "--media",
        action="store_true",
        help="callers send 1.5 s of recorded speech (RTP) in each call: the bridges' media cost",
    )
    s.add_argument("--state-dir")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("bench-rings", help="measure how exactly ANS-1's ring deadline is kept")
    s.add_argument("--calls", type=int, default=20)
    s.add_argument("--cadence", type=float, default=0.3, help="seconds per ring (China: 5)")
    s.add_argument("--state-dir")
    s.set_defaults(func=cmd_bench_rings)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (LabError, ConfigError) as exc:
        return _fail(str(exc).replace("\n", "; "))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
