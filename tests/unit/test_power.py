"""Per-EVSE power derivation and bucket energy: pure functions over readings."""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import pairwise

import pytest

from agents.domain.power import (
    ENERGY_DELTA,
    MEASURED,
    VI_ESTIMATE,
    EvseSeries,
    Point,
    PowerRules,
    bucket_energy,
    held_power,
    power_series,
    registers,
)

RULES = PowerRules()
T0 = 1_795_521_600_000  # 2026-11-24T12:00:00Z
S = 1000  # ms per second


def reg(t_s: float, wh: float, context: str = "Sample.Periodic") -> Point:
    return Point(T0 + int(t_s * S), energy_wh=wh, context=context)


def test_measured_power_wins() -> None:
    pts = [Point(T0, energy_wh=0.0), Point(T0 + 60 * S, energy_wh=100.0, power_w=6000.0)]
    [p] = power_series(pts, RULES)
    assert (p.power_w, p.derivation) == (6000.0, MEASURED)


def test_energy_delta_power() -> None:
    [p] = power_series([reg(0, 1000), reg(60, 1125)], RULES)
    assert p.derivation == ENERGY_DELTA
    assert p.power_w == pytest.approx(7500.0)


@pytest.mark.parametrize("dt", [5, 301])
def test_register_intervals_outside_limits_are_gaps_not_power(dt: float) -> None:
    assert power_series([reg(0, 1000), reg(dt, 1010)], RULES) == []


def test_register_going_backwards_is_a_reset_rebaselined() -> None:
    pts = [reg(0, 50_000), reg(60, 20), reg(120, 145)]
    series = power_series(pts, RULES)
    assert [(p.ts_ms - T0) // S for p in series] == [120]
    assert series[0].power_w == pytest.approx(7500.0)
    assert bucket_energy(pts, T0, T0 + 180 * S, RULES) == pytest.approx(125)


def test_transaction_begin_placeholder_zero_is_not_a_reading() -> None:
    pts = [reg(0, 10_000), reg(60, 0, "Transaction.Begin"), reg(120, 10_250)]
    assert bucket_energy(pts, T0, T0 + 120 * S, RULES) == pytest.approx(250)


def test_kw_labelled_w_is_recognised_against_the_register() -> None:
    pts = [reg(0, 1000), Point(T0 + 60 * S, energy_wh=1123.0, power_w=7.4)]
    [p] = power_series(pts, RULES)
    assert p.power_w == pytest.approx(7400.0) and p.quirk == "power_kw_as_w"


def test_implausible_register_jump_is_capped() -> None:
    [p] = power_series([reg(0, 0), reg(60, 1_000_000)], RULES)
    assert p.power_w == RULES.max_power_w and p.quirk == "power_capped"


def test_vi_estimate_when_nothing_better() -> None:
    [p] = power_series([Point(T0, vi_power_w=11040.0)], RULES)
    assert p.derivation == VI_ESTIMATE


def test_bucket_energy_clips_register_deltas_to_the_bucket() -> None:
    # 600 Wh over 12:00:30..12:01:30 at constant power: half in each minute.
    pts = [reg(30, 1000), reg(90, 1600)]
    assert bucket_energy(pts, T0, T0 + 60 * S, RULES) == pytest.approx(300)
    assert bucket_energy(pts, T0 + 60 * S, T0 + 120 * S, RULES) == pytest.approx(300)


def test_energy_across_a_long_gap_is_not_placed_in_time() -> None:
    pts = [reg(0, 1000), reg(3600, 50_000)]
    assert bucket_energy(pts, T0, T0 + 3600 * S, RULES) == 0


def test_power_only_meter_integrates_held_power() -> None:
    pts = [Point(T0, power_w=6000.0), Point(T0 + 30 * S, power_w=12000.0)]
    # 30 s at 6 kW + 30 s at 12 kW = 50 + 100 Wh inside the first minute
    assert bucket_energy(pts, T0, T0 + 60 * S, RULES) == pytest.approx(150)


def test_interval_measurand_is_already_a_delta() -> None:
    pts = [Point(T0, interval_wh=0.0), Point(T0 + 60 * S, interval_wh=120.0)]
    assert bucket_energy(pts, T0, T0 + 60 * S, RULES) == pytest.approx(120)


def test_series_duplicates_and_out_of_order_give_the_same_result() -> None:
    a, b = EvseSeries(), EvseSeries()
    readings = [reg(0, 1000), reg(60, 1100), reg(120, 1250)]
    for r in readings:
        assert a.add(r)
    for r in reversed(readings):
        b.add(r)
    assert not a.add(reg(60, 1100))  # duplicate: no change
    assert a.ordered() == b.ordered()
    assert bucket_energy(a.ordered(), T0, T0 + 120 * S, RULES) == pytest.approx(250)


def test_a_series_stays_in_time_order_whatever_the_order_of_arrival() -> None:
    r = random.Random(3)
    for _ in range(200):
        times = r.sample(range(0, 600, 10), r.randrange(1, 30))
        s = EvseSeries()
        for t in times + r.sample(times, len(times) // 2):  # re-sends, some received later
            s.add(Point(T0 + t * S, energy_wh=float(t), received_at_ms=r.randrange(3)))
        assert [p.ts_ms for p in s.ordered()] == sorted(T0 + t * S for t in set(times))
        assert s.last_ts() == T0 + max(times) * S
        given = EvseSeries({p.ts_ms: p for p in reversed(s.ordered())})  # built out of order
        assert given.ordered() == s.ordered()


def test_prune_keeps_one_baseline_before_the_horizon() -> None:
    s = EvseSeries()
    for r in [reg(0, 1), reg(60, 2), reg(120, 3), reg(180, 4)]:
        s.add(r)
    s.prune(T0 + 150 * S)
    assert [(p.ts_ms - T0) // S for p in s.ordered()] == [120, 180]


def test_held_power_goes_stale() -> None:
    series = power_series([Point(T0, power_w=5000.0)], RULES)
    assert held_power(series, T0 + 60 * S, RULES) == 5000.0
    assert held_power(series, T0 + 121 * S, RULES) is None
    assert held_power(series, T0 - 1, RULES) is None


def test_v2g_net_power_is_import_less_export() -> None:
    [p] = power_series([Point(T0, power_w=0.0, export_w=9000.0)], RULES)
    assert (p.power_w, p.derivation) == (-9000.0, MEASURED)


def test_v2g_registers_are_each_monotone_and_netted() -> None:
    # 60 s: 100 Wh imported, then 150 Wh exported back to the grid over the next 60 s.
    pts = [
        Point(T0, energy_wh=1000.0, export_wh=500.0),
        Point(T0 + 60 * S, energy_wh=1100.0, export_wh=500.0),
        Point(T0 + 120 * S, energy_wh=1100.0, export_wh=650.0),
    ]
    series = power_series(pts, RULES)
    assert [round(p.power_w) for p in series] == [6000, -9000]
    assert bucket_energy(pts, T0, T0 + 60 * S, RULES) == pytest.approx(100)
    assert bucket_energy(pts, T0 + 60 * S, T0 + 120 * S, RULES) == pytest.approx(-150)


def test_two_readings_at_one_timestamp_are_decided_by_receive_time_not_arrival() -> None:
    """A StartTransaction's meterStart (whole Wh) and a sample at the same instant come from
    two topics in no fixed order; the series must end the same either way."""
    start = Point(T0, energy_wh=1000.0, context="Transaction.Begin", received_at_ms=T0 + 900)
    sample = Point(T0, energy_wh=1000.4, context="Sample.Periodic", received_at_ms=T0 + 400)
    one, other = EvseSeries(), EvseSeries()
    assert one.add(start) and not one.add(sample)
    assert other.add(sample) and other.add(start)
    assert one.ordered() == other.ordered() == [start]
    assert not one.add(start)  # the same reading again changes nothing


def test_each_energy_delta_is_from_the_register_kept_before_it() -> None:
    """power_series carries the last register reading in one pass; the definition: a reading
    that ``registers`` keeps takes its delta from the one ``registers`` keeps before it."""
    from tests.unit.test_power_window import random_series

    r = random.Random(5)
    for _ in range(500):
        points = [
            replace(p, power_w=None, vi_power_w=None, export_wh=None, export_w=None) for p in random_series(r)
        ]
        expected = {}
        for a, b in pairwise(registers(points)):
            assert a.energy_wh is not None and b.energy_wh is not None
            dt = (b.ts_ms - a.ts_ms) / S
            if b.energy_wh >= a.energy_wh and RULES.min_delta_s <= dt <= RULES.max_delta_s:
                expected[b.ts_ms] = min((b.energy_wh - a.energy_wh) * 3600 / dt, RULES.max_power_w)
        assert {p.ts_ms: p.power_w for p in power_series(points, RULES)} == expected
