"""`callguard lab up|status|down|demo | bench | bench-rings`: registered only where the lab is installed
(a checkout), since the product wheel leaves the lab out."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callguard.config import CallSettings

if TYPE_CHECKING:  # the parsers are built on every `callguard` run: the lab loads when used
    from callguard.lab.lab import Lab


def _lab(args: argparse.Namespace) -> Lab:
    from callguard.lab.lab import Lab, LabPorts

    ports = LabPorts(offset=getattr(args, "port_offset", 0))
    return Lab(Path(args.state_dir) if args.state_dir else None, ports)


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    state = lab.up(phones=not args.no_phones, console=True)
    print(
        f"lab is up: Asterisk SIP {state.sip_host}:{state.sip_port}, ARI {state.ari_url}, "
        f"MQTT {state.mqtt_host}:{state.mqtt_port}"
    )
    print(f"state: {lab.state_file}  (callguard lab status --json)")
    print(f"records: {state.database_url}  (callguard calls list)")
    print(f"console: {state.web_url}")
    print(f"  sign-in accounts: callguard user add PERSON --role ROLE --config {state.config_path}")
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
        if status.get("web_url"):
            print(f"console {status['web_url']}")
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
    from callguard.lab.bench import BenchOptions, run_bench

    options = BenchOptions(
        rate=args.rate,
        count=args.count,
        max_calls_in_setup=args.max_calls_in_setup,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        media=args.media,
        port_offset=args.port_offset,
        json_file=Path(args.json) if args.json else None,
        find_limit=args.find_limit,
        soak=args.soak,
        store=args.store,
        profile=args.profile,
        limit_ceiling=args.limit_ceiling,
        warmup=args.warmup,
        rounds=args.rounds,
    )
    return run_bench(options)


def cmd_bench_rings(args: argparse.Namespace) -> int:
    from callguard.lab.bench_rings import Hold, run_bench_rings

    state_dir = Path(args.state_dir) if args.state_dir else None
    hold = Hold(args.hold, args.rate, args.max_calls_in_setup, args.plain) if args.hold else None
    return run_bench_rings(args.calls, args.cadence, state_dir, args.port_offset, hold)


def add_commands(sub: Any) -> None:
    """`lab up|status|down|demo`, `bench`, `bench-rings`."""
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
    _add_bench_commands(sub)


def _rounds(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of rounds, 1 or more")
    return int(value)


def _add_bench_modes(s: argparse.ArgumentParser) -> None:
    """`bench`'s JSON file, --find-limit, --soak, --store, --profile (issue 12)."""
    s.add_argument("--json", metavar="FILE", help="write the figures here (default: STATE_DIR/bench.json)")
    s.add_argument(
        "--find-limit",
        action="store_true",
        help="first find the plain path's clean rate (0 failed, PDD p99 <= 20 ms) and compare at it",
    )
    s.add_argument("--limit-ceiling", type=float, default=400.0, help="--find-limit tries no higher rate")
    s.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="N calls per path at --rate, RSS sampled; then the controller's live sessions",
    )
    s.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite", help="the records' store")
    s.add_argument("--profile", action="store_true", help="py-spy samples the controller on its path")
    s.add_argument(
        "--rounds",
        type=_rounds,
        default=1,
        metavar="N",
        help="run both paths N times, their order alternating, and judge the targets on the rounds' "
        "medians (one pair of runs varies by ~10 %% on a busy machine)",
    )


def _add_bench_commands(sub: Any) -> None:
    """`bench` and `bench-rings`: figures from the lab."""
    s = sub.add_parser("bench", help="load through plain dialplan and through callguard; print figures")
    s.add_argument("--rate", type=float, default=50.0, help="call attempts per second")
    s.add_argument("--count", type=int, default=500, help="calls per path")
    s.add_argument(
        "--warmup",
        type=int,
        help="unmeasured calls through each path first, so that Asterisk's warm-up (its RSS and page "
        "faults over its first ~2,000 calls) falls on neither (default: min(count, 1000); none with "
        "--soak or --find-limit)",
    )
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
    _add_bench_modes(s)
    s.add_argument("--state-dir")
    s.add_argument("--port-offset", type=int, default=200, help="shift every lab port by this much")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("bench-rings", help="measure how exactly ANS-1's ring deadline is kept")
    s.add_argument("--calls", type=int, default=20)
    s.add_argument("--cadence", type=float, default=0.3, help="seconds per ring (China: 5)")
    s.add_argument(
        "--hold",
        type=int,
        default=0,
        metavar="N",
        help="N calls ringing at once, all left to reach the limit (give a cadence long enough)",
    )
    s.add_argument("--rate", type=float, default=100.0, help="with --hold: calls placed a second")
    s.add_argument(
        "--plain",
        action="store_true",
        help="with --hold: the baseline, the plain dialplan's Dial() timeout instead of callguard",
    )
    s.add_argument(
        "--max-calls-in-setup",
        type=int,
        default=CallSettings().max_calls_in_setup,
        help="with --hold: callguard's load-shedding threshold (shed calls never ring)",
    )
    s.add_argument("--state-dir")
    s.add_argument("--port-offset", type=int, default=200, help="shift every lab port by this much")
    s.set_defaults(func=cmd_bench_rings)
