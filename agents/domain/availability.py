"""Time-weighted availability of a connector over a window, and the US NEVI formula.

``connector_availability`` is the definition, computed in one pass over a connector's
whole history; the pipeline computes the same incrementally (site_timeline.fold), and
the tests hold the two equal.

Over a window [w0, w1): start from the state in force at w0, walk transitions in event
time, and add up time per status class, clipped to the window. While a charger is
offline its connectors are ``unknown`` (chargers report their state on reconnecting,
not what happened while offline). Time inside excluded intervals (utility outage,
vandalism, planned maintenance), and by default operator ``unavailable`` time, is
excluded: such outage time leaves the uptime denominator (time up inside an excluded
interval still counts as up).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from .status import UP, StatusClass

Interval = tuple[int, int]  # [start_ms, end_ms)
MINUTES_PER_YEAR = 525_600


@dataclass(frozen=True, slots=True)
class Availability:
    window_start: int
    window_end: int
    ms: dict[StatusClass, int] = field(default_factory=dict)
    excluded_ms: int = 0
    span_ms: int = 0  # connector-time covered: the window's length per connector, summed

    @property
    def up_ms(self) -> int:
        return sum(self.ms.get(c, 0) for c in UP)

    @property
    def unknown_ms(self) -> int:
        return self.ms.get(StatusClass.UNKNOWN, 0)

    @property
    def uptime(self) -> float | None:
        """t(available + occupied + reserved) / (T - t(excluded)); None if all was excluded."""
        denominator = self.span_ms - self.excluded_ms
        return None if denominator <= 0 else min(1.0, self.up_ms / denominator)

    def __add__(self, other: Availability) -> Availability:
        """Site totals: connector times added up over the same window."""
        ms = {c: self.ms.get(c, 0) + other.ms.get(c, 0) for c in StatusClass}
        return Availability(
            self.window_start,
            self.window_end,
            ms,
            self.excluded_ms + other.excluded_ms,
            self.span_ms + other.span_ms,
        )


def connector_availability(
    transitions: Sequence[tuple[int, StatusClass]],
    w0: int,
    w1: int,
    *,
    offline: Iterable[Interval] = (),
    excluded: Iterable[Interval] = (),
    unavailable_is_excluded: bool = True,
) -> Availability:
    offline, excluded = list(offline), list(excluded)
    times = [t for t, _ in transitions]
    edges = {w0, w1}
    edges.update(t for t in times if w0 < t < w1)
    for a, b in (*offline, *excluded):
        edges.update(x for x in (a, b) if w0 < x < w1)
    cuts = sorted(edges)
    ms: dict[StatusClass, int] = {}
    excluded_ms = 0
    for a, b in pairwise(cuts):
        if _inside(a, offline):
            cls = StatusClass.UNKNOWN
        else:
            i = bisect_right(times, a) - 1
            cls = transitions[i][1] if i >= 0 else StatusClass.UNKNOWN
        ms[cls] = ms.get(cls, 0) + (b - a)
        if cls not in UP and (
            _inside(a, excluded) or (unavailable_is_excluded and cls == StatusClass.UNAVAILABLE)
        ):
            excluded_ms += b - a
    return Availability(w0, w1, ms, excluded_ms, w1 - w0)


def _inside(t: int, intervals: list[Interval]) -> bool:
    return any(a <= t < b for a, b in intervals)


def nevi_uptime_percent(
    outage_minutes: float, excluded_minutes: float, period_minutes: float = MINUTES_PER_YEAR
) -> float:
    """23 CFR 680.116(b): mu = ((T - (T_outage - T_excluded)) / T) x 100, T in minutes
    (525,600 for the trailing 12 months; the month's minutes for a monthly figure)."""
    counted = max(0.0, outage_minutes - excluded_minutes)
    return (period_minutes - counted) / period_minutes * 100
