"""Site power in 1-minute event-time buckets, in two pure stages.

Stage 1 (keyed by charger) turns an EVSE's readings into one ``Contribution`` per
bucket the new reading touches: the EVSE's energy inside the bucket and its power
values there. Stage 2 (keyed by site) keeps the latest contribution per EVSE per
bucket (set, not add: a re-sent or re-processed contribution replaces itself, so a
crash replay never double-counts) and turns them into ``SiteBucket`` revisions.

Lateness is decided in stage 1, per input partition, against that partition's
watermark (the largest ``received_at`` seen): deterministic for a replay of the same
input, however many workers share it. A bucket accepts readings until the watermark
passes its end plus the grace period; it is final once every input partition's
watermark has (stage 2 is told those watermarks).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from .power import EvseSeries, Point, Power, PowerRules, bucket_energies, held_power, power_series, ts_of

BUCKET_MS = 60_000


@dataclass(frozen=True, slots=True)
class BucketRules:
    grace_ms: int = 120_000  # late readings within this still correct their bucket
    power: PowerRules = field(default_factory=PowerRules)

    @property
    def horizon_ms(self) -> int:
        """How far back readings must be kept: open buckets plus one register interval."""
        return self.grace_ms + BUCKET_MS + int(self.power.max_energy_gap_s * 1000)


def bucket_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % BUCKET_MS


def is_open(bucket_start: int, watermark_ms: int, rules: BucketRules) -> bool:
    return watermark_ms < bucket_start + BUCKET_MS + rules.grace_ms


@dataclass(slots=True, init=False)
class Contribution:
    """One EVSE's share of one site bucket, computed from ``readings`` of its readings. A
    value (one per message and bucket, and per decoded one in stage 2: not frozen, own
    __init__; see agents/domain/__init__.py)."""

    site_id: str
    bucket_start: int
    evse_key: str  # "<charger_id>/<evse_id>"
    readings: int  # readings it was computed from (in the bucket and its neighbours): grows with data
    energy_wh: float
    powers: tuple[tuple[int, float], ...]  # (ts_ms, W) inside the bucket, time-ordered
    carried_power_w: float | None  # the value in force at the bucket's start
    reported: bool  # the EVSE sent a reading inside the bucket

    def __init__(  # noqa: PLR0917 -- the fields, in order, as the generated one took them
        self,
        site_id: str,
        bucket_start: int,
        evse_key: str,
        readings: int,
        energy_wh: float,
        powers: tuple[tuple[int, float], ...],
        carried_power_w: float | None,
        reported: bool,
    ) -> None:
        self.site_id = site_id
        self.bucket_start = bucket_start
        self.evse_key = evse_key
        self.readings = readings
        self.energy_wh = energy_wh
        self.powers = powers
        self.carried_power_w = carried_power_w
        self.reported = reported


def affected_buckets(times: list[int], new_ts: list[int]) -> range:
    """Buckets whose energy can change when readings at ``new_ts`` join the series whose
    reading times, in order, are ``times``: from the bucket of the reading before the
    earliest to that of the one after the latest (a ``power.window`` of the series holds
    both)."""
    lo, hi = min(new_ts), max(new_ts)
    i, j = times.index(lo), times.index(hi)
    first = bucket_of(times[i - 1] if i > 0 else lo)
    last = bucket_of(times[j + 1] if j + 1 < len(times) else hi)
    return range(first, last + BUCKET_MS, BUCKET_MS)


def contributions(
    site_id: str,
    evse_key: str,
    series: EvseSeries,
    *,
    new_ts: list[int],
    watermark_ms: int,
    rules: BucketRules,
    points: list[Point] | None = None,
    powers: list[Power] | None = None,
) -> list[Contribution]:
    """One contribution per still-open bucket that readings at ``new_ts`` affect.
    ``points``: the series' readings in time order, or a ``power.window`` of them for the
    first affected bucket; ``powers``: their power_series, when the caller has it already."""
    if points is None:
        points = series.ordered()
    times = [p.ts_ms for p in points]
    if powers is None:
        powers = power_series(points, rules.power)
    starts = [s for s in affected_buckets(times, new_ts) if is_open(s, watermark_ms, rules)]
    energies = bucket_energies(points, [(s, s + BUCKET_MS) for s in starts], rules.power)
    out = []
    for start, energy in zip(starts, energies, strict=True):
        end = start + BUCKET_MS
        first = bisect_left(times, start)
        p_lo, p_hi = bisect_left(powers, start, key=ts_of), bisect_left(powers, end, key=ts_of)
        out.append(
            Contribution(
                site_id,
                start,
                evse_key,
                _readings_used(times, start, end),
                energy_wh=energy,
                powers=tuple((p.ts_ms, p.power_w) for p in powers[p_lo:p_hi]),
                carried_power_w=held_power(powers, start - 1, rules.power),
                reported=first < len(times) and times[first] < end,
            )
        )
    return out


def _readings_used(times: list[int], start: int, end: int) -> int:
    """Readings inside [start, end) plus the neighbour on each side that bounds its energy."""
    lo, hi = bisect_left(times, start), bisect_left(times, end)
    return hi - lo + (lo > 0) + (hi < len(times))


@dataclass(frozen=True, slots=True)
class SiteBucket:
    site_id: str
    bucket_start: int
    energy_wh: float
    mean_power_w: float  # from energy: Wh x 60 for a one-minute bucket
    peak_power_w: float  # the largest coincident sum of EVSE power values in the bucket
    current_power_w: float  # the sum of each EVSE's latest value in the bucket
    connectors_reporting: int
    connectors_total: int | None
    revision: int  # readings behind the bucket: grows with corrections, same for the same input
    final: bool
    rolling_5m_mean_power_w: float
    rolling_15m_mean_power_w: float
    rolling_15m_energy_wh: float

    @property
    def coverage(self) -> float | None:
        if not self.connectors_total:
            return None
        return min(1.0, self.connectors_reporting / self.connectors_total)


@dataclass(slots=True)
class SiteState:
    """Stage 2's state for one site. Mutable, owned by the agent keyed by this site."""

    open: dict[int, dict[str, Contribution]] = field(default_factory=dict)
    revisions: dict[int, int] = field(default_factory=dict)
    closed: dict[int, tuple[float, float]] = field(default_factory=dict)  # start -> (energy, peak)
    final_up_to: int = 0  # buckets starting before this are final

    def add(self, c: Contribution) -> bool:
        """Fold a contribution in. False if it changes nothing: its bucket is final (late),
        it repeats what this EVSE gave, or it is older (fewer readings: a replay after a crash)."""
        if c.bucket_start < self.final_up_to:
            return False
        bucket = self.open.setdefault(c.bucket_start, {})
        held = bucket.get(c.evse_key)
        if held is not None and (held == c or held.readings > c.readings):
            return False
        bucket[c.evse_key] = c
        self.revisions[c.bucket_start] = sum(x.readings for x in bucket.values())
        return True

    def due(self, min_watermark_ms: int, rules: BucketRules) -> list[int]:
        """The open buckets every input partition has passed, oldest first."""
        return sorted(s for s in self.open if not is_open(s, min_watermark_ms, rules))

    def finalise(self, min_watermark_ms: int, rules: BucketRules) -> list[int]:
        """Buckets every input partition has passed, oldest first; they stop accepting data."""
        due = self.due(min_watermark_ms, rules)
        if due:
            self.final_up_to = max(self.final_up_to, due[-1] + BUCKET_MS)
        return due


def site_bucket(
    site_id: str, state: SiteState, start: int, connectors_total: int | None, *, final: bool
) -> SiteBucket:
    contribs = list(state.open.get(start, {}).values())
    # One pass for the three sums (a site is published about once per contribution live).
    energy = 0.0
    current = 0.0
    reporting = 0
    for c in contribs:
        energy += c.energy_wh
        current += c.powers[-1][1] if c.powers else c.carried_power_w or 0.0
        reporting += c.reported
    peak = _coincident_peak(contribs)
    revision = state.revisions.get(start, 0)
    if final:  # the bucket leaves the open state; only its totals stay, for rolling views
        state.open.pop(start, None)
        state.revisions.pop(start, None)
        state.closed[start] = (energy, peak)
        for old in [s for s in state.closed if s <= start - 15 * BUCKET_MS]:
            del state.closed[old]
    e5, e15 = _rolling_energies(state.closed, start, energy)
    return SiteBucket(
        site_id=site_id,
        bucket_start=start,
        energy_wh=energy,
        mean_power_w=energy * 3_600_000 / BUCKET_MS,
        peak_power_w=peak,
        current_power_w=current,
        connectors_reporting=reporting,
        connectors_total=connectors_total,
        revision=revision,
        final=final,
        rolling_5m_mean_power_w=e5 * 3_600_000 / (5 * BUCKET_MS),
        rolling_15m_mean_power_w=e15 * 3_600_000 / (15 * BUCKET_MS),
        rolling_15m_energy_wh=e15,
    )


def _rolling_energies(
    closed: dict[int, tuple[float, float]], start: int, energy: float
) -> tuple[float, float]:
    """Energy of the 5 and 15 buckets up to ``start``, whose own energy is ``energy``
    (summed in the closed buckets' order, ``start`` in its place if it is one of them)."""
    e5 = 0.0
    e15 = 0.0
    counted = False
    for s, (closed_energy, _) in closed.items():
        e = energy if s == start else closed_energy
        counted = counted or s == start
        if start - 15 * BUCKET_MS < s <= start:
            e15 += e
            if s > start - 5 * BUCKET_MS:
                e5 += e
    if not counted:
        e5 += energy
        e15 += energy
    return e5, e15


def _coincident_peak(contribs: list[Contribution]) -> float:
    """Max over the bucket's reading times of the sum of each EVSE's value in force then.
    Walks the readings in time order, changing one EVSE's value at a time and the sum by
    the difference (a fresh sum of every EVSE at each time was 5 % of a live worker:
    O(EVSEs x readings) per published bucket). The running sum may differ from a fresh one
    in the last bits (~1e-15 relative: tests/unit/test_buckets.py)."""
    values = [c.carried_power_w or 0.0 for c in contribs]
    # (time, EVSE) is unique, so the sort never compares the values (None among them).
    changes = [(t, i, w) for i, c in enumerate(contribs) for t, w in c.powers]
    total = sum(values, 0.0)
    if not changes:
        return total
    changes.sort()
    peak, previous = 0.0, changes[0][0]
    for t, i, maybe_w in changes:
        if t != previous:  # every EVSE's reading at `previous` is in: a candidate
            if total > peak:  # noqa: PLR1730 (max() here was a third of the function)
                peak = total
            previous = t
        w = maybe_w or 0.0
        total += w - values[i]
        values[i] = w
    return total if total > peak else peak
