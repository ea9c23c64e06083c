"""What the variants that measure themselves (d1, d2) share: their command line, and the one
JSON line of results that bench/run.py reads back."""

from __future__ import annotations

import argparse
import resource

import orjson


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topics", required=True, help="comma-separated")
    p.add_argument("--events", type=int, required=True, help="stop after this many records")
    return p


def result_line(events: int, seconds: float, **extra: object) -> bytes:
    """Events, seconds from the first record to the last, this process's CPU seconds and
    peak RSS, and ``extra``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "events": events,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": _peak_rss_kib() / 1024,
        **extra,
    }
    return orjson.dumps(out) + b"\n"


def _peak_rss_kib() -> int:
    """This process's own high-water mark. Not getrusage's ru_maxrss: Linux carries that
    over from the parent through fork and exec, so every variant reported bench/run.py's
    RSS (622 MiB in the runs of 2026-12-06) rather than its own."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
