"""`callguard rerate | budget list|set|remove`: prices and monthly budgets (LOG-4)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from callguard.cli.common import database_options, fail, lab_or_none, with_engine
from callguard.config import load_config


def _costs_config(args: argparse.Namespace) -> Any:
    """The configuration whose tariffs and budgets apply: --config, else the lab's (if any)."""
    if args.config:
        return load_config(args.config)
    if args.db:
        return None
    lab = lab_or_none(args.state_dir)
    return load_config(lab.state.config_path) if lab is not None and lab.state is not None else None


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
        return fail("no tariffs: give --config FILE whose [[tariffs]] (or [outbound] tariffs file) apply")
    table = TariffTable(config.tariffs)
    done = with_engine(args, lambda engine: rerate(engine, args.month, table))
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

    rows = with_engine(args, work)
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
        return fail(f"budget set: amount: {args.amount!r} is not an amount in 元")
    if not amount.is_finite() or amount <= 0:
        return fail(f"budget set: amount: {args.amount!r} must be more than 0")
    budget = Budget(args.scope, args.name, amount, args.action, ServiceClass(args.downgrade_to))
    with_engine(args, lambda engine: set_budget(engine, budget, args.by))
    # The budgets row keeps who set it and when (updated_by, updated_at).
    print(f"{budget.key}: {amount} 元 a month, at 100 %: {args.action} (set by {args.by})")
    return 0


def cmd_budget_remove(args: argparse.Namespace) -> int:
    from callguard.store.budgets import remove_budget

    key = f"{args.scope}:{args.name}"
    if not with_engine(args, lambda engine: remove_budget(engine, args.scope, args.name)):
        return fail(f"budget remove: {key}: no budget was set with `budget set`")
    print(f"{key}: removed by {args.by} (a budget in the config, if any, applies again)")
    return 0


def add_commands(sub: Any) -> None:
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
