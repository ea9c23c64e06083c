"""Freed heap given back to the system.

While a backlog drains, the worker holds tens of thousands of fetched records at a time;
once processed they are freed, but glibc's malloc keeps freed memory for reuse and the
process's RSS stays near its peak. ``malloc_trim`` gives the free pages back: 32-41 MiB of a
~550-600 MiB worker at 100,000 connectors, in 6-18 ms (bench/RESULTS.md). Python's own
object arenas, returned only when wholly empty, are not affected. So that a pause of that
length stays rare, it runs every ``heap_trim_seconds``, not after each batch.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any


def trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def trim_periodically(app: Any, interval_s: float) -> None:
    """A worker's timer (a Faust app's) giving freed heap back every ``interval_s``; none at 0."""
    trim = trimmer()
    if interval_s and trim is not None:

        async def trim_heap() -> None:
            trim()

        app.timer(interval=interval_s)(trim_heap)
