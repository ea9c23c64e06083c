"""Per-EVSE power and energy from a set of readings, by event time.

An EVSE's recent readings are kept by timestamp (a duplicate lands in the same slot,
so re-processing is idempotent), and everything else is a pure function of that set:
- power per reading, tagged with how it was derived: ``measured`` (Power.Active.Import),
  ``energy_delta`` (register difference over time), or ``vi_estimate`` (V x I);
- energy inside a time bucket: register deltas spread linearly over their interval and
  clipped to the bucket, not an average of power samples. Resets (E2 < E1) re-baseline,
  Transaction.Begin placeholder zeros are not readings, gaps longer than a limit are not
  attributed. Power-only meters fall back to integrating held power.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter
from typing import NamedTuple

from .meter import MeterReading

MEASURED, ENERGY_DELTA, VI_ESTIMATE = "measured", "energy_delta", "vi_estimate"
TX_BEGIN = "Transaction.Begin"
ts_of = attrgetter("ts_ms")  # a Point's or Power's timestamp: the key to bisect them by


@dataclass(frozen=True, slots=True)
class PowerRules:
    min_delta_s: float = 10.0  # shorter register intervals give noise, not power
    max_delta_s: float = 300.0  # longer: a gap, no power value (about 3 x a 60-100 s sample interval)
    max_energy_gap_s: float = 900.0  # longer: the energy is real but not placed in time
    hold_s: float = 120.0  # a power value counts as current this long (about 2 x sample interval)
    max_power_w: float = 400_000.0  # no EVSE delivers more; caps glitches when rated power is unknown


@dataclass(slots=True, init=False)
class Point:
    """What power and energy need of one reading. A value: never changed once made (a
    decoded charger state makes ~50 a connector: not frozen, own __init__; see
    agents/domain/__init__.py)."""

    ts_ms: int
    energy_wh: float | None
    power_w: float | None
    vi_power_w: float | None
    interval_wh: float | None
    context: str
    export_wh: float | None  # V2G: Energy.Active.Export.Register
    export_w: float | None  # V2G: Power.Active.Export
    received_at_ms: int  # decides between two readings with the same timestamp

    def __init__(  # noqa: PLR0917 -- the fields, in order, as the generated one took them
        self,
        ts_ms: int,
        energy_wh: float | None = None,
        power_w: float | None = None,
        vi_power_w: float | None = None,
        interval_wh: float | None = None,
        context: str = "Sample.Periodic",
        export_wh: float | None = None,
        export_w: float | None = None,
        received_at_ms: int = 0,
    ) -> None:
        self.ts_ms = ts_ms
        self.energy_wh = energy_wh
        self.power_w = power_w
        self.vi_power_w = vi_power_w
        self.interval_wh = interval_wh
        self.context = context
        self.export_wh = export_wh
        self.export_w = export_w
        self.received_at_ms = received_at_ms

    @classmethod
    def of(cls, r: MeterReading) -> Point:
        v = r.values
        return cls(
            r.ts_ms,
            v.get("energy_wh"),
            v.get("power_w"),
            r.vi_power_w,
            v.get("energy_interval_wh"),
            r.context,
            v.get("energy_export_wh"),
            v.get("power_export_w"),
            r.received_at_ms,
        )


class Power(NamedTuple):
    """A reading's power. A tuple, not a frozen dataclass: a few dozen are made per message,
    and a frozen dataclass's __init__ costs twice a tuple's."""

    ts_ms: int
    power_w: float
    derivation: str
    quirk: str | None = None


@dataclass(slots=True, init=False)
class EvseSeries:
    """Recent readings of one EVSE by timestamp, kept in time order (readings come mostly in
    order: sorting the timestamps at every use was ~10 % of stage 1). Mutable state owned
    by one agent. Own __init__: see agents/domain/__init__.py."""

    points: dict[int, Point]

    def __init__(self, points: dict[int, Point] | None = None) -> None:
        self.points = {} if points is None else points
        times = list(self.points)
        if times != sorted(times):  # in C: a decoded series is in order, and this was ~15 % of decoding it
            self._sort()

    def add(self, point: Point) -> bool:
        """Insert the reading at its timestamp; True if anything changed.

        Two different readings at one timestamp (a StartTransaction's meterStart and a
        sample, from two topics read in no fixed order) are decided by the data, not by
        arrival: the one the CSMS received later wins, as its row does in Cassandra."""
        held = self.points.get(point.ts_ms)
        if held is not None and _precedence(held) >= _precedence(point):
            return False
        # A replaced reading keeps its place; a new one before the newest needs sorting in.
        out_of_order = held is None and bool(self.points) and point.ts_ms < self.last_ts()
        self.points[point.ts_ms] = point
        if out_of_order:
            self._sort()
        return True

    def last_ts(self) -> int:
        """The newest reading's timestamp (the series must not be empty)."""
        return next(reversed(self.points))

    def prune(self, before_ms: int, window: Callable[[list[Point]], list[Point]] | None = None) -> None:
        """Forget readings older than ``before_ms``, keeping one as the register baseline,
        and those before ``window`` of the readings in time order (see ``window`` below)."""
        ordered = self.ordered()
        cut = max(bisect_left(list(self.points), before_ms) - 1, 0)
        if window is not None:
            cut = max(cut, len(ordered) - len(window(ordered)))
        for p in ordered[:cut]:  # from the front: the order stands
            del self.points[p.ts_ms]

    def ordered(self) -> list[Point]:
        return list(self.points.values())

    def _sort(self) -> None:
        ordered = sorted(self.points.items())
        self.points.clear()
        self.points.update(ordered)


def _precedence(p: Point) -> tuple[int, str]:
    return p.received_at_ms, repr(p)  # repr: a total order for a tie


Register = Callable[[Point], float | None]


def _import(p: Point) -> float | None:
    return p.energy_wh


def _export(p: Point) -> float | None:
    return p.export_wh


def registers(points: list[Point], register: Register = _import) -> list[Point]:
    """Points with a usable value of ``register``, placeholder zeros removed.

    Import and export registers (V2G) are each monotone on their own; their difference
    is not, so each is guarded for resets separately and only then netted.
    """
    out: list[Point] = []
    for p in points:
        value = register(p)
        if value is None:
            continue
        if _placeholder(value, p, register(out[-1]) if out else None):
            continue
        out.append(p)
    return out


def _placeholder(value: float, p: Point, last_kept: float | None) -> bool:
    """A Transaction.Begin zero after a non-zero register: "meterStart: 0" from a charger
    that does not know its register, not a reading of it."""
    return value == 0 and p.context == TX_BEGIN and bool(last_kept)


def power_series(points: list[Point], rules: PowerRules) -> list[Power]:
    """Net power (import less V2G export) at each reading that allows one, in time order.

    One pass, carrying the last register reading ``registers`` keeps (import and export
    each): a reading's energy delta is from that one (bisecting lists of the registers for
    it was half of this function's cost)."""
    out: list[Power] = []
    last_in: Point | None = None  # the last import register kept so far
    last_out: Point | None = None  # ... and export register
    for p in points:
        delta = delta_out = None
        value = p.energy_wh
        if value is not None and not _placeholder(value, p, last_in.energy_wh if last_in else None):
            if last_in is not None:
                delta = _delta_power(last_in.ts_ms, last_in.energy_wh or 0.0, p.ts_ms, value, rules)
            last_in = p
        value = p.export_wh
        if value is not None and not _placeholder(value, p, last_out.export_wh if last_out else None):
            if last_out is not None:
                delta_out = _delta_power(last_out.ts_ms, last_out.export_wh or 0.0, p.ts_ms, value, rules)
            last_out = p
        if p.power_w is not None or p.export_w is not None:
            imported = _measured(p, delta) if p.power_w is not None else Power(p.ts_ms, 0.0, MEASURED)
            if p.export_w:  # not dataclasses.replace: ~3x the cost, for every reading
                imported = Power(p.ts_ms, imported.power_w - p.export_w, imported.derivation, imported.quirk)
            out.append(imported)
        elif delta is not None or delta_out is not None:
            net = (delta or 0.0) - (delta_out or 0.0)
            capped = max(-rules.max_power_w, min(net, rules.max_power_w))
            out.append(Power(p.ts_ms, capped, ENERGY_DELTA, "power_capped" if capped != net else None))
        elif p.vi_power_w is not None:
            out.append(Power(p.ts_ms, p.vi_power_w, VI_ESTIMATE))
    return out


def window(points: list[Point], from_ms: int, rules: PowerRules) -> list[Point]:
    """The readings, in time order, that give the whole series' answers from ``from_ms``
    on: its powers there (and the one held into it), and its energy in any bucket starting
    there or later. A new reading's buckets need a few of the readings a series holds
    (those of every open bucket, and a margin: charger._prune); computing over the ~18
    minutes of them a series held was a quarter of a worker.

    The power held into ``from_ms`` is that of the last reading before it that gives one.
    A reading with a measured power (or V x I, or an export power) always gives one, so
    nothing before the last such reading matters for it; without one, any reading up to
    ``hold_s`` back may be the one held. The window starts at the last register reading
    before that point (or before ``hold_s`` back, whichever is later) that ``registers``
    keeps whatever precedes it (not a Transaction.Begin zero). From there on the registers
    kept are the whole series' ones, so is each reading's previous register (its energy
    delta, and the kW-as-W check of a measured power), and no register interval that ends
    before it reaches ``from_ms``. Where that does not hold, the whole series: fewer than
    two registers in the window (energy would come from another source), or any export
    register in it (V2G, rare: its own register chain)."""
    before = from_ms - 1 - int(rules.hold_s * 1000)
    last = 0
    for last in range(len(points) - 1, -1, -1):  # back from the newest: only the window is read
        p = points[last]
        if p.ts_ms < before:
            break
        if p.ts_ms < from_ms and _gives_power(p):
            before = p.ts_ms  # this reading's power is the oldest that can be held into from_ms
            break
    for start in range(last, 0, -1):
        p = points[start]
        if p.ts_ms < before and p.energy_wh is not None and (p.energy_wh or p.context != TX_BEGIN):
            break
    else:
        return points
    found = points[start:]
    if len(registers(found)) < 2 or any(p.export_wh is not None for p in found):
        return points
    return found


def _gives_power(p: Point) -> bool:
    """Whether ``power_series`` gives the reading a power whatever precedes it."""
    return p.power_w is not None or p.export_w is not None or p.vi_power_w is not None


def _delta_power(t1_ms: int, e1_wh: float, t2_ms: int, e2_wh: float, rules: PowerRules) -> float | None:
    """Power from two successive register readings, or None for a reset (re-baseline) or a gap."""
    dt = (t2_ms - t1_ms) / 1000
    de = e2_wh - e1_wh
    if de < 0 or not rules.min_delta_s <= dt <= rules.max_delta_s:
        return None
    return de * 3600 / dt


def _measured(p: Point, delta: float | None) -> Power:
    assert p.power_w is not None
    # A value in kW labelled W: the register says ~1000x more. Trust the register's scale.
    if (
        delta is not None
        and delta > 1000
        and 0 < p.power_w < 1000
        and abs(p.power_w * 1000 - delta) <= 0.25 * delta
    ):
        return Power(p.ts_ms, p.power_w * 1000, MEASURED, "power_kw_as_w")
    return Power(p.ts_ms, p.power_w, MEASURED)


def bucket_energy(points: list[Point], start_ms: int, end_ms: int, rules: PowerRules) -> float:
    """Net energy (Wh) delivered inside [start_ms, end_ms): import less export (V2G)."""
    return bucket_energies(points, [(start_ms, end_ms)], rules)[0]


def bucket_energies(points: list[Point], spans: list[tuple[int, int]], rules: PowerRules) -> list[float]:
    """``bucket_energy`` of each [start_ms, end_ms) in ``spans``, the registers and their
    intervals taken once for all (a message touches one bucket or two)."""
    imported = _imported_energies(points, spans, rules)
    exported = registers(points, _export)
    if not exported:
        return imported
    returned = _register_intervals(exported, rules, _export)
    return [e - _spread(returned, start, end) for e, (start, end) in zip(imported, spans, strict=True)]


def _imported_energies(points: list[Point], spans: list[tuple[int, int]], rules: PowerRules) -> list[float]:
    regs = registers(points)
    intervals = _register_intervals(regs, rules) if len(regs) >= 2 else _interval_measurand(points, rules)
    if len(regs) >= 2 or intervals:
        return [_spread(intervals, start, end) for start, end in spans]
    series = power_series(points, rules)
    return [_integrate_power(series, start, end, rules) for start, end in spans]


def _register_intervals(
    regs: list[Point], rules: PowerRules, register: Register = _import
) -> list[tuple[int, int, float]]:
    out = []
    for a, b in pairwise(regs):
        dt_s = (b.ts_ms - a.ts_ms) / 1000
        de = (register(b) or 0.0) - (register(a) or 0.0)
        if de < 0 or dt_s > rules.max_energy_gap_s:
            continue  # reset: re-baseline; long gap: not placed in time
        out.append((a.ts_ms, b.ts_ms, min(de, rules.max_power_w * dt_s / 3600)))
    return out


def _interval_measurand(points: list[Point], rules: PowerRules) -> list[tuple[int, int, float]]:
    """Energy.Active.Import.Interval is already a delta, over the time since the last reading."""
    out = []
    for a, b in pairwise(points):
        if b.interval_wh is not None and (b.ts_ms - a.ts_ms) / 1000 <= rules.max_energy_gap_s:
            out.append((a.ts_ms, b.ts_ms, b.interval_wh))
    return out


def _spread(intervals: list[tuple[int, int, float]], start_ms: int, end_ms: int) -> float:
    total = 0.0
    for t1, t2, wh in intervals:
        if t2 <= t1:
            continue
        overlap = min(t2, end_ms) - max(t1, start_ms)
        if overlap > 0:
            total += wh * overlap / (t2 - t1)
    return total


def _integrate_power(series: list[Power], start_ms: int, end_ms: int, rules: PowerRules) -> float:
    """Each value holds until the next one, at most ``hold_s``."""
    total = 0.0
    hold_ms = rules.hold_s * 1000
    for i, p in enumerate(series):
        until = p.ts_ms + hold_ms
        if i + 1 < len(series):
            until = min(until, series[i + 1].ts_ms)
        overlap = min(until, end_ms) - max(p.ts_ms, start_ms)
        if overlap > 0:
            total += p.power_w * overlap / 3_600_000
    return total


def held_power(series: list[Power], at_ms: int, rules: PowerRules) -> float | None:
    """The power value in force at ``at_ms``: the last one before it, if not stale."""
    i = bisect_left(series, at_ms + 1, key=ts_of) - 1
    if i < 0 or at_ms - series[i].ts_ms > rules.hold_s * 1000:
        return None
    return series[i].power_w
