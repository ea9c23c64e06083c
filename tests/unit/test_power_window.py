"""power.window: the readings it keeps give the whole series' answers from its start on
(random series with the quirks power and energy guard against)."""

from __future__ import annotations

import random

from agents.domain.buckets import BUCKET_MS, _readings_used, bucket_of
from agents.domain.power import Point, PowerRules, bucket_energy, held_power, power_series, window

RULES = PowerRules()
T0 = 1_795_521_600_000


def random_series(r: random.Random) -> list[Point]:
    points, ts, wh = [], T0, r.uniform(0, 5000)
    for _ in range(r.randrange(1, 120)):
        ts += r.choice([r.randrange(1_000, 20_000), 10_000, 60_000, r.randrange(100_000, 400_000), 1_000_000])
        wh += r.choice([r.uniform(0, 40), 0.0, -wh if r.random() < 0.03 else 0.0])  # resets now and then
        begin = r.random() < 0.05
        energy = r.choice([wh, wh, wh, wh, None, 0.0 if begin else wh])
        points.append(
            Point(
                ts,
                energy_wh=energy,
                power_w=r.choice([None, None, r.uniform(0, 22_000), r.uniform(0, 22)]),  # kW as W
                vi_power_w=r.choice([None, r.uniform(0, 7_000)]),
                interval_wh=r.choice([None, None, None, r.uniform(0, 30)]),
                context="Transaction.Begin" if begin else "Sample.Periodic",
                export_wh=r.uniform(0, 100) if r.random() < 0.02 else None,
                export_w=r.uniform(0, 3_000) if r.random() < 0.02 else None,
            )
        )
    return points


def test_the_window_answers_as_the_whole_series_from_its_start() -> None:
    r = random.Random(11)
    windowed = 0
    for _ in range(800):
        points = random_series(r)
        from_ms = bucket_of(r.choice(points).ts_ms)
        part = window(points, from_ms, RULES)
        assert part == points[len(points) - len(part) :]  # a suffix
        windowed += len(part) < len(points)
        full_powers, part_powers = power_series(points, RULES), power_series(part, RULES)
        assert [p for p in full_powers if p.ts_ms >= from_ms] == [
            p for p in part_powers if p.ts_ms >= from_ms
        ]
        full_times, part_times = [p.ts_ms for p in points], [p.ts_ms for p in part]
        for start in range(
            from_ms, min(points[-1].ts_ms, from_ms + 8 * BUCKET_MS) + 2 * BUCKET_MS, BUCKET_MS
        ):
            end = start + BUCKET_MS
            assert bucket_energy(points, start, end, RULES) == bucket_energy(part, start, end, RULES)
            assert held_power(full_powers, start - 1, RULES) == held_power(part_powers, start - 1, RULES)
            assert _readings_used(full_times, start, end) == _readings_used(part_times, start, end)
    assert windowed > 300, windowed  # most series are cut: not a test of the fallback alone


def test_measured_power_needs_no_more_than_the_last_reading_before_and_its_register() -> None:
    # Every 10 s, power and register: the power held into from_ms is the last reading's
    # before it, whose energy delta (the kW-as-W check) needs the register before that one.
    points = [Point(T0 + i * 10_000, energy_wh=100.0 + i, power_w=360.0) for i in range(60)]
    from_ms = bucket_of(points[-1].ts_ms)
    part = window(points, from_ms, RULES)
    assert [p.ts_ms for p in part[:2]] == [from_ms - 20_000, from_ms - 10_000]
    assert all(p.ts_ms >= from_ms for p in part[2:])
