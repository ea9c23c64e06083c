"""Stage 1 of site power: one charger's meter state, updated by one message at a time.

``apply_meter_message`` is the whole per-message step: drop exact re-sends (same
message id), resolve each reading's EVSE (2.0.1 TransactionEvents and 1.6
StopTransaction may name only the transaction), fold on-time readings into the EVSE's
series, and return what to write: sample rows for the history and contributions for
the site buckets. Late readings (their bucket already closed) go to the history only.

A reading's power depends on the readings before it, and two topics (MeterValues and
TransactionEvent, say) are read in no fixed order: a reading can arrive after a later
one whose row is written already. Such a row gets a ``PowerRevision``, so the history
ends the same whatever the order the topics were read in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .buckets import BUCKET_MS, BucketRules, Contribution, affected_buckets, bucket_of, contributions, is_open
from .meter import MeterReading
from .power import EvseSeries, Point, Power, power_series, window
from .seen_messages import SeenMessages

MAX_OPEN_TRANSACTIONS = 64  # per charger; transactions that never end must not pile up
UNRESOLVED_EVSE = -1  # a reading whose EVSE cannot be known: kept in history, not in site sums
MAIN_METER = 0


@dataclass(slots=True, init=False)
class ChargerState:
    """A charger's meter state (own __init__: one is made per decode, see
    agents/domain/__init__.py)."""

    evses: dict[int, EvseSeries]
    tx_evse: dict[str, int]  # transaction id -> EVSE
    messages: SeenMessages
    # The first open bucket it was last pruned for (_prune), not encoded: 0 after a decode.
    pruned_for: int = field(compare=False)

    def __init__(
        self,
        evses: dict[int, EvseSeries] | None = None,
        tx_evse: dict[str, int] | None = None,
        messages: SeenMessages | None = None,
        pruned_for: int = 0,
    ) -> None:
        self.evses = {} if evses is None else evses
        self.tx_evse = {} if tx_evse is None else tx_evse
        self.messages = SeenMessages() if messages is None else messages
        self.pruned_for = pruned_for


@dataclass(slots=True, init=False)
class SampleRow:
    """One normalised reading with the power derived for it: a row of the history. A value
    (one per reading: not frozen, own __init__; see agents/domain/__init__.py)."""

    reading: MeterReading
    evse_id: int
    power: Power | None
    late: bool
    # The reading's timestamp was new to its EVSE's series: no power was written to its row
    # before (but by a replay of this input, which writes the same, or for a reading pruned
    # from the series long since), so the store may write the power with the reading's cells.
    new: bool

    def __init__(
        self, reading: MeterReading, evse_id: int, power: Power | None, late: bool, new: bool = False
    ) -> None:
        self.reading = reading
        self.evse_id = evse_id
        self.power = power
        self.late = late
        self.new = new


@dataclass(frozen=True, slots=True)
class PowerRevision:
    """The power of a reading written earlier, changed by a reading that arrived after it."""

    charger_id: str
    evse_id: int
    ts_ms: int
    power: Power | None


@dataclass(slots=True, init=False)
class MeterUpdate:
    """What one meter message changed (own __init__, see agents/domain/__init__.py)."""

    samples: list[SampleRow]
    revisions: list[PowerRevision]
    contributions: list[Contribution]
    duplicate: bool
    late: int
    unresolved: int

    def __init__(self) -> None:
        self.samples = []
        self.revisions = []
        self.contributions = []
        self.duplicate = False
        self.late = 0
        self.unresolved = 0


def apply_meter_message(
    state: ChargerState,
    readings: list[MeterReading],
    *,
    message_id: str | None,
    received_at_ms: int,
    site_id: str,
    watermark_ms: int,
    rules: BucketRules,
) -> MeterUpdate:
    update = MeterUpdate()
    if message_id is not None:
        if message_id in state.messages:
            update.duplicate = True
            return update
        state.messages.add(message_id, received_at_ms)

    new_ts: dict[int, list[int]] = {}
    before: dict[int, dict[int, Power | None]] = {}  # EVSE -> power by ts, before an insertion
    rows: list[tuple[MeterReading, int, bool, bool]] = []  # (reading, EVSE, late, new), to power
    for r in readings:
        evse = _resolve_evse(state, r)
        if evse == UNRESOLVED_EVSE:
            update.unresolved += 1
        late = not is_open(bucket_of(r.ts_ms), watermark_ms, rules)
        if late or evse == UNRESOLVED_EVSE:
            update.late += int(late)
            rows.append((r, evse, late, False))
            continue
        series = state.evses.setdefault(evse, EvseSeries())
        if evse not in before and series.points and r.ts_ms < series.last_ts():
            before[evse] = _powers_held(series, rules)  # in order (the usual case) nothing earlier changes
        new = r.ts_ms not in series.points  # not a reading replacing one at its timestamp
        if series.add(Point.of(r)):
            new_ts.setdefault(evse, []).append(r.ts_ms)
        rows.append((r, evse, False, new))

    powers: dict[int, dict[int, Power]] = {}  # EVSE -> power by ts, of the readings needed
    for evse in {evse for _, evse, _, _ in rows} & state.evses.keys():
        series = state.evses[evse]
        ts_list = new_ts.get(evse, [])
        points = series.ordered()
        added = set(ts_list)
        if added and evse not in before and _all_new(rows, evse, added):
            # What this message needs is at and after its first affected bucket. None of its
            # readings went before the newest held, so they are the series' last ones.
            tail = points[-len(added) - 1 :]
            first = affected_buckets([p.ts_ms for p in tail], ts_list).start
            points = window(points, first, rules.power)
        series_powers = power_series(points, rules.power)
        powers[evse] = {p.ts_ms: p for p in series_powers}
        for ts, old in before.get(evse, {}).items():
            if ts not in ts_list and powers[evse].get(ts) != old:
                update.revisions.append(PowerRevision(readings[0].charger_id, evse, ts, powers[evse].get(ts)))
        if ts_list and evse != MAIN_METER:  # the main meter is never added to the EVSEs' sum
            key = f"{readings[0].charger_id}/{evse}"
            update.contributions += contributions(
                site_id,
                key,
                series,
                new_ts=ts_list,
                watermark_ms=watermark_ms,
                rules=rules,
                points=points,
                powers=series_powers,
            )
    update.samples = [
        _row(r, evse, late, new, state=state, powers=powers, rules=rules) for r, evse, late, new in rows
    ]
    _prune(state, watermark_ms, rules)
    return update


def _all_new(rows: list[tuple[MeterReading, int, bool, bool]], evse: int, added: set[int]) -> bool:
    """Whether every row of this EVSE is a reading the message added (not a re-sent or
    late one, whose power is that of an older reading)."""
    return all(r.ts_ms in added for r, row_evse, _, _ in rows if row_evse == evse)


def _row(
    r: MeterReading,
    evse: int,
    late: bool,
    new: bool,
    *,
    state: ChargerState,
    powers: dict[int, dict[int, Power]],
    rules: BucketRules,
) -> SampleRow:
    """The reading's row with its power: the series' one when the series holds a reading at
    its timestamp (a replay of an on-time reading can itself be late, and must not undo its
    power), else what the reading alone gives."""
    series = state.evses.get(evse)
    if series is not None and r.ts_ms in series.points:
        power = powers[evse].get(r.ts_ms)
    else:
        power = _power_alone(r, rules)
    return SampleRow(r, evse, power, late, new)


def _powers_held(series: EvseSeries, rules: BucketRules) -> dict[int, Power | None]:
    found = {p.ts_ms: p for p in power_series(series.ordered(), rules.power)}
    return {ts: found.get(ts) for ts in series.points}


def _resolve_evse(state: ChargerState, r: MeterReading) -> int:
    if r.evse_id is not None:
        if r.transaction_id is not None and state.tx_evse.get(r.transaction_id) != r.evse_id:
            state.tx_evse.pop(r.transaction_id, None)  # re-insert: the dict's order is recency
            state.tx_evse[r.transaction_id] = r.evse_id
            while len(state.tx_evse) > MAX_OPEN_TRANSACTIONS:
                del state.tx_evse[next(iter(state.tx_evse))]
        return r.evse_id
    if r.transaction_id is not None and r.transaction_id in state.tx_evse:
        if r.context == "Transaction.End":  # the last reading of the transaction
            return state.tx_evse.pop(r.transaction_id)
        return state.tx_evse[r.transaction_id]
    return UNRESOLVED_EVSE


def _power_alone(r: MeterReading, rules: BucketRules) -> Power | None:
    found = power_series([Point.of(r)], rules.power)
    return found[0] if found else None


# How far a partition's watermark may step back (a topic that was quiet becoming active
# again, a restart reading its uncommitted input again) and still find the readings its
# open buckets need.
PRUNE_MARGIN_MS = 3 * 60_000


def _prune(state: ChargerState, watermark_ms: int, rules: BucketRules) -> None:
    """Forget readings no open bucket needs: those before the window (power.window) of the
    first bucket open at a watermark PRUNE_MARGIN_MS behind this one. With 10-second samples
    a series held ~109 readings at the 18-minute horizon (12.8 KB encoded per EVSE, in
    memory and in every commit), of which a message's buckets use a few dozen. Done when
    that first open bucket moves (once a minute): pruning at every message was 17 % of
    stage 1, for the one reading or two it dropped."""
    horizon = watermark_ms - rules.horizon_ms
    first_open = bucket_of(watermark_ms - PRUNE_MARGIN_MS - BUCKET_MS - rules.grace_ms) + BUCKET_MS
    if first_open == state.pruned_for:  # it moves once a minute: between, there is little to drop
        return
    state.pruned_for = first_open

    def needed(ordered: list[Point]) -> list[Point]:
        return window(ordered, first_open, rules.power)

    for series in state.evses.values():
        series.prune(horizon, needed)
    state.messages.forget_received_before(horizon)
