"""A site's ports through time, folded into closed availability windows and NEVI figures.

Stage 1 sends, in event time, each connector status (as its class) and each charger
going offline or coming back. Changes wait in ``pending`` until the input watermark less
the grace has passed them; ``fold`` then adds the time between changes to each open
window of every connector (1 min, 1 h, 1 day by default) and returns the windows that
closed. Memory per connector is its open windows, a year of monthly NEVI sums and the
few changes inside the grace, not a day of history. A change older than the fold point
is late: it takes effect from the fold point if it is newer than what is in force (the
closed windows stay as they were) and is reported as late.

Connector keys are "<evse>/<connector>"; EVSE 0 (the whole charger) is not a port and is
left out. A connector counts from its first status on; while its charger is offline it
is ``unknown``. Keys and charger ids are interned: every decoded site holds them, and the
changes they come from carry a copy each.
"""

from __future__ import annotations

from array import array
from bisect import insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import merge
from sys import intern
from typing import TypeVar

from .availability import Availability, Interval, nevi_uptime_percent
from .status import UP, StatusClass

MONTHS_KEPT = 12  # NEVI: trailing twelve months, reported monthly
DEFAULT_WINDOWS_MS = (60_000, 3_600_000, 86_400_000)
V = TypeVar("V")


CLASSES = tuple(StatusClass)  # the order of an open window's time per class
CLASS_INDEX = {cls: i for i, cls in enumerate(CLASSES)}


# A connector's open windows, at most one per length, are one flat array of WINDOW values
# each: the window's length, its start, its excluded outage time, then its time per class
# in CLASSES' order. Three objects per window (a dataclass, its array, its start) made them
# ~800 of the timeline's ~1,100 bytes of heap a connector, and every connector of a site
# keeps its open windows while the site's state stays decoded (bench/RESULTS.md).
LENGTH, START, EXCLUDED, MS = 0, 1, 2, 3
WINDOW = MS + len(CLASSES)


def by_class(windows: array[int], at: int) -> dict[StatusClass, int]:
    """The classes with time in the window at offset ``at``."""
    return {cls: ms for cls, ms in zip(CLASSES, windows[at + MS : at + WINDOW], strict=True) if ms}


@dataclass(slots=True)
class ConnectorLine:
    cls: StatusClass | None = None  # in force at the fold point; None before the first status
    since: int = 0  # event time of the status in force (orders late arrivals)
    pending: list[tuple[int, StatusClass]] = field(default_factory=list)  # after the fold point
    open: array[int] = field(default_factory=lambda: array("q"))  # the open windows, flat (WINDOW)
    # NEVI sums of the months kept, oldest first, flat: (month index, span, up, excluded ms)
    # per month (see month_sums)
    months: array[int] = field(default_factory=lambda: array("q"))

    @property
    def latest(self) -> StatusClass | None:
        return self.pending[-1][1] if self.pending else self.cls


@dataclass(slots=True)
class ChargerLine:
    offline: bool = False  # at the fold point
    since: int = 0
    pending: list[tuple[int, bool]] = field(default_factory=list)
    connectors: dict[str, ConnectorLine] = field(default_factory=dict)

    @property
    def latest_offline(self) -> bool:
        return self.pending[-1][1] if self.pending else self.offline


@dataclass(slots=True)
class SiteTimeline:
    folded_to: int = 0  # everything before is in the windows; 0: never folded
    chargers: dict[str, ChargerLine] = field(default_factory=dict)
    # Bumped by every function here that changes the timeline: a site's state is encoded
    # for each of its contributions, and its timeline, which they leave alone, need not be.
    changes: int = field(default=0, compare=False)
    # current_counts, kept up to date by the functions here once computed (None: not yet).
    # Counting every port of the site at each change was ~4 % of the worker; a change
    # moves only its charger's ports.
    counts: dict[StatusClass, int] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    charger_id: str
    connector: str
    length_ms: int
    availability: Availability


@dataclass(frozen=True, slots=True)
class PortUptime:
    """NEVI uptime of one port over a calendar month or the trailing twelve months."""

    charger_id: str
    connector: str
    period: str  # "month" | "trailing_12_months"
    period_start: int  # epoch ms, UTC month start
    period_minutes: float  # minutes the port was known in the period
    outage_minutes: float
    excluded_minutes: float

    @property
    def uptime_percent(self) -> float | None:
        if self.period_minutes <= 0:
            return None
        return nevi_uptime_percent(self.outage_minutes, self.excluded_minutes, self.period_minutes)


@dataclass(frozen=True, slots=True)
class FoldRules:
    windows_ms: tuple[int, ...] = DEFAULT_WINDOWS_MS  # ascending; each divides a day
    unavailable_is_excluded: bool = True  # operator Unavailable as planned maintenance
    excluded: Callable[[str], Sequence[Interval]] = lambda _charger: ()  # outages not counted


def is_port(connector: str) -> bool:
    return not connector.startswith("0/")


def record_status(tl: SiteTimeline, charger_id: str, connector: str, ts_ms: int, cls: StatusClass) -> bool:
    """A connector status at its event time; False if it came too late to count in full."""
    tl.changes += 1
    ch = _charger(tl, charger_id)
    _count(tl, ch, -1)
    line = ch.connectors.get(connector) or ch.connectors.setdefault(intern(connector), ConnectorLine())
    on_time = ts_ms >= tl.folded_to or (line.cls is None and not line.pending)
    if on_time:
        _insert(line.pending, ts_ms, cls)
    elif ts_ms > line.since:
        line.cls, line.since = cls, ts_ms
    _count(tl, ch, +1)
    return on_time


def record_liveness(tl: SiteTimeline, charger_id: str, ts_ms: int, offline: bool) -> bool:
    tl.changes += 1
    line = _charger(tl, charger_id)
    _count(tl, line, -1)
    on_time = ts_ms >= tl.folded_to
    if on_time:
        _insert(line.pending, ts_ms, offline)
    elif ts_ms > line.since:
        line.offline, line.since = offline, ts_ms
    _count(tl, line, +1)
    return on_time


def _charger(tl: SiteTimeline, charger_id: str) -> ChargerLine:
    return tl.chargers.get(charger_id) or tl.chargers.setdefault(intern(charger_id), ChargerLine())


def _insert(pending: list[tuple[int, V]], ts_ms: int, value: V) -> None:
    for i, (t, _) in enumerate(pending):
        if t == ts_ms:
            pending[i] = (ts_ms, value)  # a re-send of the same moment
            return
    insort(pending, (ts_ms, value), key=lambda p: p[0])


def current_counts(tl: SiteTimeline) -> dict[StatusClass, int]:
    """Ports per class now (latest known, whatever the watermark); offline chargers' ports unknown."""
    if tl.counts is None:
        tl.counts = dict.fromkeys(StatusClass, 0)
        for ch in tl.chargers.values():
            _count(tl, ch, +1)
    return dict(tl.counts)  # a copy: the caller keeps it to compare with later ones


def _count(tl: SiteTimeline, ch: ChargerLine, sign: int) -> None:
    """Add (+1) or take away (-1) the charger's ports in the kept counts, if kept."""
    counts = tl.counts
    if counts is None:
        return
    offline = ch.latest_offline
    for key, c in ch.connectors.items():
        latest = c.latest
        if latest is not None and is_port(key):
            counts[StatusClass.UNKNOWN if offline else latest] += sign


def no_port_in_service(counts: dict[StatusClass, int]) -> bool:
    """The site alert's condition: of the ports whose state is known, none is available,
    occupied or reserved. Unknown ports (charger offline) neither raise nor prevent it:
    silence has its own alert, and a partition gone silent (our ingestion) pages once."""
    known = sum(counts.values()) - counts[StatusClass.UNKNOWN]
    return known > 0 and not any(counts[c] for c in UP)


def fold(tl: SiteTimeline, until_ms: int, rules: FoldRules) -> tuple[list[ClosedWindow], list[PortUptime]]:
    """Move the fold point to ``until_ms``: the windows that closed, and for every port whose
    longest window closed, its NEVI month-to-date and trailing-twelve-months figures."""
    if until_ms <= tl.folded_to:
        return [], []
    tl.changes += 1
    closed: list[ClosedWindow] = []
    uptimes: list[PortUptime] = []
    for charger_id, ch in tl.chargers.items():
        excluded = [(a, b) for a, b in rules.excluded(charger_id) if a < until_ms and b > tl.folded_to]
        liveness = [(t, v) for t, v in ch.pending if t < until_ms]
        for key, c in ch.connectors.items():
            if not is_port(key):
                c.pending = [p for p in c.pending if p[0] >= until_ms]
                continue
            windows = _fold_connector(
                c, ch.offline, liveness, start=tl.folded_to, until=until_ms, excluded=excluded, rules=rules
            )
            for length, a in windows:
                closed.append(ClosedWindow(charger_id, key, length, a))
                if length == rules.windows_ms[0]:
                    _add_month(c, a)
                if length == rules.windows_ms[-1]:
                    uptimes += nevi_figures(charger_id, key, c, a.window_start)
        if liveness:
            ch.offline, ch.since = liveness[-1][1], liveness[-1][0]
            del ch.pending[: len(liveness)]
    tl.folded_to = until_ms
    return closed, uptimes


def _fold_connector(
    c: ConnectorLine,
    offline: bool,
    liveness: list[tuple[int, bool]],
    *,
    start: int,
    until: int,
    excluded: list[Interval],
    rules: FoldRules,
) -> list[tuple[int, Availability]]:
    mine = [p for p in c.pending if p[0] < until]
    del c.pending[: len(mine)]
    out: list[tuple[int, Availability]] = []
    t = start
    # The usual minute has no change: then no merge is set up (~20 % of a quiet fold).
    changes = (
        merge(((ts, "c", v) for ts, v in mine), ((ts, "l", v) for ts, v in liveness), key=lambda e: e[0])
        if mine or liveness
        else ()
    )
    for ts, kind, value in changes:
        if c.cls is not None and ts > t:
            out += _add(c, t, ts, StatusClass.UNKNOWN if offline else c.cls, excluded=excluded, rules=rules)
        t = max(t, ts)
        if kind == "c":
            assert isinstance(value, StatusClass)
            c.cls, c.since = value, ts
        else:
            offline = bool(value)
    if c.cls is not None and until > t:
        out += _add(c, t, until, StatusClass.UNKNOWN if offline else c.cls, excluded=excluded, rules=rules)
    return out


def _add(
    c: ConnectorLine, a: int, b: int, cls: StatusClass, *, excluded: list[Interval], rules: FoldRules
) -> list[tuple[int, Availability]]:
    """Add [a, b) in ``cls`` to each open window, closing those whose end it reaches."""
    out = []
    for length in rules.windows_ms:
        t = a
        while t < b:
            ws = t - t % length
            we = ws + length
            e = min(b, we)
            w, at = c.open, _open_window(c, length, ws)
            w[at + MS + CLASS_INDEX[cls]] += e - t
            if cls not in UP:
                if rules.unavailable_is_excluded and cls == StatusClass.UNAVAILABLE:
                    w[at + EXCLUDED] += e - t
                else:
                    w[at + EXCLUDED] += sum(max(0, min(e, y) - max(t, x)) for x, y in excluded)
            if e == we:
                span = sum(w[at + MS : at + WINDOW])
                out.append((length, Availability(ws, we, by_class(w, at), w[at + EXCLUDED], span)))
                del w[at : at + WINDOW]
            t = e
    return out


def _open_window(c: ConnectorLine, length: int, start: int) -> int:
    """The offset in ``c.open`` of the connector's window of this length starting at
    ``start``: a new one if it has none of this length, or in place of one that started
    earlier."""
    w = c.open
    for at in range(0, len(w), WINDOW):
        if w[at + LENGTH] == length:
            if w[at + START] == start:
                return at
            del w[at : at + WINDOW]
            break
    at = len(w)
    w.extend((length, start) + (0,) * (WINDOW - EXCLUDED))
    return at


def _month(ts_ms: int) -> int:
    d = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return d.year * 12 + d.month - 1


def _month_start_ms(month: int) -> int:
    return int(datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def month_sums(c: ConnectorLine) -> dict[int, tuple[int, int, int]]:
    """Month index -> (span, up, excluded) ms."""
    m = c.months
    return {m[i]: (m[i + 1], m[i + 2], m[i + 3]) for i in range(0, len(m), 4)}


def month_array(sums: dict[int, tuple[int, int, int]]) -> array[int]:
    """Month sums as ConnectorLine.months holds them: flat, oldest first."""
    return array("q", [x for month in sorted(sums) for x in (month, *sums[month])])


def _add_month(c: ConnectorLine, a: Availability) -> None:
    """Add a closed window to its month's sums, in place (once a minute per connector), and
    drop the months that puts out of MONTHS_KEPT."""
    month = _month(a.window_start)
    m = c.months
    for i in range(0, len(m), 4):
        if m[i] == month:
            m[i + 1] += a.span_ms
            m[i + 2] += a.up_ms
            m[i + 3] += a.excluded_ms
            break
    else:  # a month not held yet
        c.months = month_array(month_sums(c) | {month: (a.span_ms, a.up_ms, a.excluded_ms)})
    if c.months[0] <= month - MONTHS_KEPT:  # oldest first
        c.months = month_array({k: v for k, v in month_sums(c).items() if k > month - MONTHS_KEPT})


def nevi_figures(charger_id: str, connector: str, c: ConnectorLine, at_ms: int) -> list[PortUptime]:
    """Month to date and trailing twelve months (this month and the eleven before it)."""
    month = _month(at_ms)
    sums = month_sums(c)
    this = sums.get(month, (0, 0, 0))
    trailing = tuple(sum(v[i] for m, v in sums.items() if m > month - MONTHS_KEPT) for i in range(3))
    out = []
    for period, (span, up, excl), first in (
        ("month", this, month),
        ("trailing_12_months", trailing, month - MONTHS_KEPT + 1),
    ):
        out.append(
            PortUptime(
                charger_id,
                connector,
                period,
                _month_start_ms(first),
                span / 60_000,
                (span - up) / 60_000,
                excl / 60_000,
            )
        )
    return out


def site_totals(closed: Iterable[ClosedWindow]) -> dict[tuple[int, int], Availability]:
    """Per (window length, window start): the site's connector time added up."""
    out: dict[tuple[int, int], Availability] = {}
    for w in closed:
        k = (w.length_ms, w.availability.window_start)
        out[k] = out[k] + w.availability if k in out else w.availability
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """What stage 1 tells a site: a connector's class (``connector`` set) or a charger's
    liveness (``offline`` set), at an event time."""

    site_id: str
    charger_id: str
    ts_ms: int
    connector: str | None = None
    cls: StatusClass | None = None
    offline: bool | None = None


def apply_change(tl: SiteTimeline, c: Change) -> bool:
    """Record a change; False if it arrived after its windows closed (late)."""
    if c.connector is not None and c.cls is not None:
        return record_status(tl, c.charger_id, c.connector, c.ts_ms, c.cls)
    return record_liveness(tl, c.charger_id, c.ts_ms, bool(c.offline))
