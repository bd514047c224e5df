"""`callguard check-config | dialplan render | run | pin set | db upgrade`: the service and its files."""

from __future__ import annotations

import argparse
import asyncio
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callguard.cli.common import fail
from callguard.config import Config, ConfigError, load_config


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
    prompts = Path(args.prompts) if args.prompts else SHIPPED_SOUNDS / config.service.language
    for warning in cut_warnings(config, args.path, prompts):
        print(warning, file=sys.stderr)
    d = config.directory
    print(f"{args.path}: ok ({len(d.departments)} departments, {len(d.people)} people, {len(d.lines)} lines)")
    return 0


SHIPPED_SOUNDS = Path(__file__).resolve().parents[2] / "sounds"  # absent from an installed wheel


def cut_warnings(config: Config, path: str, prompts: Path) -> list[str]:
    """OUT-4: a warning that starts `warn_before_s` before a hard cap longer than that is cut
    off mid-sentence by the cap. A configuration the service runs on, so a warning, not a problem."""
    prompt = prompts / "duration_warning.wav"
    try:
        with wave.open(str(prompt), "rb") as audio:
            prompt_s = audio.getnframes() / audio.getframerate()
    except (OSError, EOFError, wave.Error):
        return []  # no prompt to measure here (an installed package; prompts elsewhere)
    return [
        f"warning: {path}: outbound.durations.{cls.value}.warn_before_s: {limit.warn_before_s} s, shorter "
        f"than the OUT-4 warning ({prompt_s:.1f} s, {prompt}): the hard cap cuts it off"
        for cls, limit in config.outbound.durations.items()
        if limit.hard_cap and limit.warn_before_s < prompt_s
    ]


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
        return fail(f"{args.out}: cannot be written: {exc.strerror}")
    print(f"{args.out}: written; reload Asterisk's dialplan (`asterisk -rx 'dialplan reload'`)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from callguard.logs import configure_logging
    from callguard.policy.masking import number_keeper
    from callguard.service import run_service

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return fail("refusing to start on a bad configuration", 2)
    if config.log.file:
        from callguard.files import create_private

        try:  # caller data: created 0600 before the logger opens it
            create_private(Path(config.log.file))
        except OSError as exc:
            return fail(f"log file {config.log.file}: cannot be created: {exc.strerror}", 2)
    # SEC-2: [log] mask_numbers hides outside numbers in every log line.
    configure_logging(
        config.log.level, config.log.file, number_keeper(config) if config.log.mask_numbers else None
    )
    from callguard.store import JournalInUse

    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(run_service(config))
    except JournalInUse as exc:  # LOG-2: two processes never share one journal
        return fail(str(exc), 2)
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (issue 12: it roughly halves the event loop's own cost per call
    event); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def cmd_pin_set(args: argparse.Namespace) -> int:
    """Store a person's authorization code (OUT-3) hashed; the PIN comes from stdin, never argv."""
    import getpass

    from callguard.pinfile import pin_settings, set_pin
    from callguard.policy import PinError

    if args.config:
        try:
            path, min_digits = pin_settings(Path(args.config))
        except ConfigError as exc:
            return fail(exc.problems[0])
    else:
        path, min_digits = Path(args.file), args.min_digits
    pin = getpass.getpass("PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        set_pin(path, args.person, pin, min_digits)
    except PinError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{path}: cannot be written: {exc.strerror}")
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


def add_commands(sub: Any) -> None:
    """`check-config`, `dialplan render`, `run`."""
    s = sub.add_parser("check-config", help="validate a callguard.toml and its directory")
    s.add_argument("path")
    s.add_argument(
        "--prompts",
        help="the folder of the prompts Asterisk plays, e.g. /usr/share/asterisk/sounds/zh_CN/callguard "
        "(default: the shipped sounds/<language>)",
    )
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


def add_pin_commands(sub: Any) -> None:
    """`pin set` (OUT-3)."""
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


def add_db_commands(sub: Any) -> Any:
    """`db upgrade`; returns the `db` subcommands, to which the reports add `backup` and `prune`."""
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    s = db.add_parser("upgrade", help="apply schema migrations")
    s.add_argument("--config", required=True)
    s.set_defaults(func=cmd_db_upgrade)
    return db
