"""The power in each history row ends the same whatever order the messages arrive in.

Stage 1 reads MeterValues and TransactionEvent topics in no fixed order, so a reading
can arrive after a later one of the same EVSE; that later row's power is then revised.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from agents.domain.buckets import BucketRules
from agents.domain.charger import ChargerState, MeterUpdate, PowerRevision, apply_meter_message
from agents.domain.meter import MeterReading
from agents.domain.power import ENERGY_DELTA, Power

RULES = BucketRules()
T0 = 1_795_521_600_000  # 12:00:00Z
S = 1000

History = dict[tuple[int, int], Power | None]  # (EVSE, ts) -> the power the row ends with


def reading(
    t_s: float,
    wh: float,
    *,
    context: str = "Sample.Periodic",
    tx: str | None = None,
    received_s: float | None = None,
) -> MeterReading:
    received = T0 + int((t_s if received_s is None else received_s) * S)
    return MeterReading("C", 1, None, T0 + int(t_s * S), received, tx, context, {"energy_wh": wh})


def apply(state: ChargerState, rs: list[MeterReading], watermark_ms: int = T0) -> MeterUpdate:
    return apply_meter_message(
        state, rs, message_id=None, received_at_ms=T0, site_id="S", watermark_ms=watermark_ms, rules=RULES
    )


def history(messages: list[list[MeterReading]]) -> History:
    """Rows as the store ends up with them: each write of a row's power replaces the last."""
    state, rows = ChargerState(), {}
    for rs in messages:
        up = apply(state, rs)
        for s in up.samples:
            # The store writes a new row's power with the reading's cells, at the reading's
            # receive time, which any later power write beats, but not an earlier one.
            assert not s.new or (s.evse_id, s.reading.ts_ms) not in rows, "a new row had a power"
            rows[(s.evse_id, s.reading.ts_ms)] = s.power
        for rev in up.revisions:
            assert (rev.evse_id, rev.ts_ms) in rows, "a revision is of a row written before"
            rows[(rev.evse_id, rev.ts_ms)] = rev.power
    return rows


def test_a_reading_that_arrives_after_a_later_one_revises_the_later_rows_power() -> None:
    idle, started = [reading(0, 1000)], [reading(60, 1000, context="Transaction.Begin", tx="T1")]
    state = ChargerState()
    first = apply(state, started)
    assert first.samples[0].power is None  # nothing to take a delta from yet
    second = apply(state, idle)
    assert second.revisions == [PowerRevision("C", 1, T0 + 60 * S, Power(T0 + 60 * S, 0.0, ENERGY_DELTA))]


def test_in_order_readings_revise_nothing() -> None:
    state = ChargerState()
    for t in range(0, 300, 30):
        assert apply(state, [reading(t, 1000 + t)]).revisions == []


MESSAGES = [
    [reading(0, 1000)],  # idle, register only
    [reading(40, 0, context="Transaction.Begin", tx="T1")],  # a "meterStart: 0" placeholder
    [reading(45, 1000, context="Transaction.Begin", tx="T1")],
    [reading(100, 1120, tx="T1"), reading(160, 1240, tx="T1")],
    [reading(100, 1150, tx="T1", received_s=500)],  # a re-sent reading, received later: it wins
    [reading(220, 5, tx="T1")],  # a register reset
]


@pytest.mark.parametrize("order", list(permutations(range(len(MESSAGES)))))
def test_every_arrival_order_ends_with_the_same_history(order: tuple[int, ...]) -> None:
    in_order = history(MESSAGES)
    assert history([MESSAGES[i] for i in order]) == in_order


def test_a_replayed_reading_that_has_become_late_keeps_its_power() -> None:
    msgs = [[reading(0, 1000)], [reading(60, 1100)]]
    on_time = history(msgs)
    closed = T0 + 300 * S  # both readings' buckets are closed at the replay, not yet pruned
    state = ChargerState()
    for rs in msgs:
        apply(state, rs)
    again = apply(state, msgs[1], watermark_ms=closed)
    assert again.late == 1
    assert again.samples[0].power == on_time[(1, T0 + 60 * S)] is not None


def test_a_row_is_new_once_neither_when_replaced_nor_late() -> None:
    state = ChargerState()
    assert [
        s.new for s in apply(state, [reading(0, 1000), reading(30, 1010), reading(30, 1010)]).samples
    ] == [
        True,
        True,
        False,  # the same timestamp again within the message
    ]
    assert [s.new for s in apply(state, [reading(30, 1020, received_s=90)]).samples] == [False]  # replaces
    assert [s.new for s in apply(state, [reading(15, 1005)]).samples] == [True]  # out of order, still new
    closed = T0 + 600 * S
    assert [(s.new, s.late) for s in apply(state, [reading(45, 1030)], watermark_ms=closed).samples] == [
        (False, True)
    ]
