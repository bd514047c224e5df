"""Issue 9: the `callguard` command offers the lab's commands only where the lab is installed (a
checkout); without it (the product wheel) every other command works and none is broken."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import callguard.cli
import callguard.cli.common

LAB_COMMANDS = {"lab", "bench", "bench-rings"}


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_a_checkout_has_the_lab_commands() -> None:
    assert _commands(callguard.cli.build_parser()) >= LAB_COMMANDS


def test_without_the_lab_there_are_no_lab_commands_and_records_need_a_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(callguard.cli, "lab_installed", lambda: False)
    monkeypatch.setattr(callguard.cli.common, "lab_installed", lambda: False)
    commands = _commands(callguard.cli.build_parser())
    assert not commands & LAB_COMMANDS
    assert {"check-config", "run", "calls", "violations", "bill", "db"} <= commands
    assert callguard.cli.main(["calls", "list"]) == 1
    assert capsys.readouterr().err == "callguard: say which records to read: --config FILE or --db URL\n"


def test_the_cli_modules_do_not_import_the_lab() -> None:
    """Only lab_or_none() and the guarded registration reach the lab, when it is there."""
    code = (
        "import sys, callguard.cli, callguard.cli.reports;"
        "print(sorted(m for m in sys.modules if m.startswith('callguard.lab')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
