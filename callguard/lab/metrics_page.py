"""The controller's Prometheus page as the lab reads it: the lab's readiness check and the
bench's soak figures both take a few named series from it."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable


def parse_metrics(text: str, names: Iterable[str]) -> dict[str, float]:
    """The named series' values from a Prometheus text page; labelled series are summed. A name
    the page declares with no series yet (a labelled gauge) is 0, not unknown; one it does not
    have at all is left out."""
    wanted = set(names)
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared = line.split()[2]
            if declared in wanted:
                out.setdefault(declared, 0.0)
            continue
        if line.startswith("#") or not line.strip():
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        if name in wanted:
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                continue
    return out


def read_metrics(metrics_url: str, names: Iterable[str], timeout_s: float = 5.0) -> dict[str, float] | None:
    """None if the controller's metrics do not answer."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout_s) as resp:
            return parse_metrics(resp.read().decode(), names)
    except (urllib.error.URLError, OSError):
        return None
