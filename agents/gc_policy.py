"""Python's cyclic GC, for a process that holds its state in memory.

A worker keeps hundreds of thousands of long-lived objects (the decoded table values), and
every full collection traverses all of them with the event loop stopped: 0.25-0.5 s, every
~10 s under live traffic, while finding next to nothing to collect (bench/RESULTS.md; the
one large source of cyclic garbage, the Cassandra driver's request futures, is untied in
agents/sinks/timeseries.py). So after each full collection its survivors are frozen
(``gc.freeze``: moved where no collection looks) and the next ones traverse only what came
since: 10-25 ms each. A frozen object that later becomes part of cyclic garbage would stay,
so every ``full_scan_every_s`` the frozen objects are released and one full collection
traverses everything again: one long pause per period instead of one per ~10 s.

Young collections come every 10,000 allocations net, not CPython's 700. A batch of a
few thousand records keeps tens of thousands of objects alive while it is processed; at 700
the young collections promoted them, and the older generations then traversed them again
(and froze them) before they died. The worker's collections took 5.3-6.0 s of ~50 CPU s for
300,000 events at 700, 3.6-4.6 s at 10,000 (bench/RESULTS.md, session 14); each young one
takes ~5 ms. Larger thresholds saved little more and pause longer (~70 ms at 100,000).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

FULL_SCAN_EVERY_S = 600.0
THRESHOLDS = (10_000, 20, 20)  # allocations net per young collection; young, then middle, per older one


class FreezeAfterFullCollection:
    def __init__(self, full_scan_every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.full_scan_every_s = full_scan_every_s
        self._clock = clock
        self._released_at = clock()

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        now = self._clock()
        if now - self._released_at >= self.full_scan_every_s:
            self._released_at = now
            gc.unfreeze()  # the next full collection traverses everything
        else:
            gc.freeze()


def install(full_scan_every_s: float = FULL_SCAN_EVERY_S) -> FreezeAfterFullCollection:
    """For a worker process (not a library import: it changes the whole process's GC)."""
    gc.set_threshold(*THRESHOLDS)
    policy = FreezeAfterFullCollection(full_scan_every_s)
    gc.callbacks.append(policy)
    return policy
