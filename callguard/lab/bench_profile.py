"""`callguard bench --profile`: py-spy samples the controller while the callguard path runs, and
the bench prints where its time went (issue 12: "profile first"). The raw (collapsed stacks) file
stays beside the JSON for a flame graph (`flamegraph.pl` or speedscope.app)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from callguard.lab.bench_paths import Beside
from callguard.lab.errors import LabError

SAMPLES_PER_S = 100
TOP = 15


def require_py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise LabError("py-spy is not installed: `.venv/bin/pip install py-spy` (the bench's --profile).")
    return found


def profiler(pid: int, out: Path) -> Beside:
    """Records `pid` until cancelled; py-spy writes its file when interrupted."""

    async def record() -> None:
        argv = [require_py_spy(), "record", "-p", str(pid), "-r", str(SAMPLES_PER_S), "--threads"]
        argv += ["--nonblocking", "-f", "raw", "-o", str(out)]
        log = out.with_suffix(".log").open("wb")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        log.close()
        try:
            await proc.wait()
        except asyncio.CancelledError:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
            raise

    return record


def thread_name(root: str) -> str:
    """py-spy's "thread (0x7f..): Thread-3 (_connection_worker_thread)" as "_connection_worker_thread",
    so that the threads of one pool add up and two runs compare."""
    name = root.split(": ", 1)[-1]
    return re.sub(r"^Thread-\d+ \((.*)\)$", r"\1", name)


def summarize_collapsed(text: str, top: int = TOP) -> dict[str, Any]:
    """From py-spy's raw output ("thread;frame;...;frame count" per line): samples per thread (the
    root frame), per function holding the CPU (the leaf, "self") and per function on the stack
    ("total", each function counted once per stack), as percentages of all samples."""
    threads: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[thread_name(frames[0])] += count
        leaf[frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    if total == 0:
        return {"samples": 0, "threads": [], "self": [], "total": []}
    return {"samples": total, "threads": share(threads), "self": share(leaf), "total": share(inclusive)}


def print_profile(summary: dict[str, Any], raw: Path) -> None:
    print(f"\nprofile of the controller (callguard path, {summary['samples']} samples; raw stacks {raw})")
    for title, key in (
        ("by thread", "threads"),
        ("self (on CPU in)", "self"),
        ("total (on the stack)", "total"),
    ):
        print(f"  {title}:")
        for name, percent in summary[key]:
            print(f"    {percent:5.1f} %  {name}")
