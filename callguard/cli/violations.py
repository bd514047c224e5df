"""`callguard violations list|show|appeal|decide`: the violations ledger and its ladder (LOG-5)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from callguard.cli.common import database_options, fail, log_event, parse_since, with_engine


def cmd_violations_list(args: argparse.Namespace) -> int:
    from callguard.store import list_violations
    from callguard.store.text import violation_line

    rows = with_engine(
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


def _ladder_change(args: argparse.Namespace, work: Any, event: str, fields: dict[str, Any]) -> int:
    from callguard.policy.ladder import AppealError

    try:
        row = with_engine(args, work)
    except AppealError as exc:
        return fail(str(exc))
    log_event(event, id=row["id"], rule="LOG-5", violation_rule=row["rule"], person=row["person"], **fields)
    print(f"violation {row['id']} ({row['rule']}, {row['person']}, {row['step']}): {row['status']}")
    return 0


def cmd_violations_appeal(args: argparse.Namespace) -> int:
    """LOG-5: the person appeals within the working days the ladder allows."""
    from callguard.store.ladder import appeal

    now = datetime.now(UTC)
    work = lambda engine: appeal(engine, args.id, args.reason, args.by, now)  # noqa: E731
    return _ladder_change(args, work, "violation.appealed", {"by": args.by, "reason": args.reason})


def cmd_violations_decide(args: argparse.Namespace) -> int:
    """LOG-5: an administrator upholds or overturns, with a reason; never their own violation."""
    from callguard.policy.ladder import AppealError
    from callguard.store.ladder import decide, violation_history

    now = datetime.now(UTC)

    async def work(engine: Any) -> dict[str, Any]:
        person = (await violation_history(engine, args.id))["person"]
        if person and person == args.by.strip():  # the console refuses the same (routes_violations)
            raise AppealError(
                f"violation {args.id}: --by: {person} may not decide their own violation; "
                "another administrator decides it (LOG-5)"
            )
        return await decide(engine, args.id, args.uphold, args.reason, args.by, now)

    fields = {"by": args.by, "reason": args.reason, "decision": "upheld" if args.uphold else "overturned"}
    return _ladder_change(args, work, "violation.decided", fields)


def cmd_violations_show(args: argparse.Namespace) -> int:
    """A violation and every change made to it, with who and when."""
    from callguard.policy.ladder import AppealError
    from callguard.store.ladder import violation_history
    from callguard.store.text import violation_line

    try:
        row = with_engine(args, lambda engine: violation_history(engine, args.id))
    except AppealError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return 0
    print(violation_line(row))
    for e in row["events"]:
        at = datetime.fromisoformat(e["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        detail = json.dumps(e["detail"] or {}, ensure_ascii=False)
        print(f"  {at}  {e['action']:<14} by {e['by']}: {e['reason'] or '-'}  {detail}")
    return 0


def add_commands(sub: Any) -> None:
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
            s.add_argument("--since", type=parse_since, help="30m, 2h, 7d or an ISO time")
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
