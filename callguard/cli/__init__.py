"""The `callguard` command."""

from __future__ import annotations

import argparse
import sys

from callguard.cli import blocklist, console, costs, records, reports, service, violations
from callguard.cli.common import CommandError, fail, lab_installed
from callguard.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callguard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    # In this order, the order `callguard --help` lists them.
    service.add_commands(sub)
    records.add_calls_commands(sub)
    costs.add_commands(sub)
    violations.add_commands(sub)
    records.add_cdr_commands(sub)
    blocklist.add_commands(sub)
    records.add_messages_commands(sub)
    service.add_pin_commands(sub)
    db = service.add_db_commands(sub)
    reports.add_commands(sub, db)  # LOG-2/4/6: bill, report, export, db backup, db prune
    console.add_commands(sub)  # the console: web, user, token, audit verify
    if lab_installed():  # a checkout: the lab is not in the product wheel
        from callguard.lab.commands import add_commands as add_lab_commands

        add_lab_commands(sub)
    return p


def _one_line_errors() -> tuple[type[Exception], ...]:
    """What a command raises for the user to fix, printed as one line (the lab's too, in a checkout)."""
    if not lab_installed():
        return (CommandError, ConfigError)
    from callguard.lab.errors import LabError

    return (CommandError, ConfigError, LabError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except _one_line_errors() as exc:
        return fail(str(exc).replace("\n", "; "))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
