"""Site buckets: stage 1 contributions and stage 2 aggregation, replays and lateness."""

from __future__ import annotations

import random

import pytest

from agents.domain.buckets import BUCKET_MS, BucketRules, Contribution, SiteState, site_bucket
from agents.domain.charger import ChargerState, MeterUpdate, apply_meter_message
from agents.domain.meter import MeterReading

RULES = BucketRules()
T0 = 1_795_521_600_000  # 12:00:00Z, a bucket boundary
S = 1000


def reading(
    charger: str,
    evse: int | None,
    t_s: float,
    *,
    wh: float | None = None,
    w: float | None = None,
    tx: str | None = None,
    context: str = "Sample.Periodic",
) -> MeterReading:
    values = {k: v for k, v in (("energy_wh", wh), ("power_w", w)) if v is not None}
    return MeterReading(charger, evse, None, T0 + int(t_s * S), T0 + int(t_s * S), tx, context, values)


def feed(
    state: ChargerState,
    site: SiteState,
    msgs: list[list[MeterReading]],
    watermark: int | None = None,
    site_id: str = "S",
) -> None:
    for rs in msgs:
        wm = watermark if watermark is not None else max(r.received_at_ms for r in rs)
        up = apply_meter_message(
            state,
            rs,
            message_id=None,
            received_at_ms=wm,
            site_id=site_id,
            watermark_ms=wm,
            rules=RULES,
        )
        for c in up.contributions:
            site.add(c)


def test_energy_split_across_buckets_sums_to_the_register_delta() -> None:
    charger, site = ChargerState(), SiteState()
    feed(charger, site, [[reading("C", 1, t, wh=1000 + 2 * t)] for t in range(0, 181, 10)])
    total = sum(site_bucket("S", site, s, None, final=False).energy_wh for s in list(site.open))
    assert total == pytest.approx(360)  # 2 Wh/s for 180 s
    b = site_bucket("S", site, T0 + BUCKET_MS, None, final=False)
    assert b.energy_wh == pytest.approx(120)
    assert b.mean_power_w == pytest.approx(7200)
    assert b.peak_power_w == pytest.approx(7200)
    assert b.connectors_reporting == 1


def test_two_evses_coincident_peak_is_not_the_sum_of_peaks() -> None:
    charger, site = ChargerState(), SiteState()
    feed(
        charger,
        site,
        [
            [reading("C", 1, 0, w=10_000)],
            [reading("C", 2, 0, w=0)],
            [reading("C", 1, 30, w=0)],
            [reading("C", 2, 30, w=10_000)],
        ],
    )
    b = site_bucket("S", site, T0, 2, final=False)
    assert b.peak_power_w == pytest.approx(10_000)
    assert b.connectors_reporting == 2 and b.coverage == 1.0


def test_replaying_the_same_messages_changes_nothing() -> None:
    msgs = [[reading("C", 1, t, wh=1000 + 2 * t)] for t in range(0, 121, 10)]
    charger, site = ChargerState(), SiteState()
    feed(charger, site, msgs)
    before = {s: site_bucket("S", site, s, None, final=False) for s in site.open}
    feed(charger, site, msgs)  # stage 1 and stage 2 both see everything again
    after = {s: site_bucket("S", site, s, None, final=False) for s in site.open}
    assert after == before


def test_duplicate_message_id_is_counted_once() -> None:
    charger = ChargerState()

    def send() -> MeterUpdate:
        return apply_meter_message(
            charger,
            [reading("C", 1, 0, wh=5)],
            message_id="m1",
            received_at_ms=T0,
            site_id="S",
            watermark_ms=T0,
            rules=RULES,
        )

    first, again = send(), send()
    assert not first.duplicate and again.duplicate and again.samples == []


def test_late_reading_goes_to_history_not_to_closed_buckets() -> None:
    charger = ChargerState()
    watermark = T0 + BUCKET_MS + RULES.grace_ms + 1  # bucket 12:00 closed
    up = apply_meter_message(
        charger,
        [reading("C", 1, 30, w=5000)],
        message_id=None,
        received_at_ms=watermark,
        site_id="S",
        watermark_ms=watermark,
        rules=RULES,
    )
    assert up.late == 1 and up.contributions == []
    assert [s.late for s in up.samples] == [True]
    assert up.samples[0].power is not None and up.samples[0].power.power_w == 5000


def test_finalise_closes_buckets_and_rejects_later_contributions() -> None:
    charger, site = ChargerState(), SiteState()
    feed(charger, site, [[reading("C", 1, t, wh=2 * t)] for t in range(0, 121, 10)])
    due = site.finalise(T0 + BUCKET_MS + RULES.grace_ms, RULES)
    assert due == [T0]
    final = site_bucket("S", site, T0, None, final=True)
    assert final.final and final.energy_wh == pytest.approx(120)
    assert T0 not in site.open and T0 not in site.revisions  # nothing of it stays but its totals
    late = Contribution(
        "S", T0, "C/1", readings=99, energy_wh=1.0, powers=(), carried_power_w=None, reported=True
    )
    assert not site.add(late)


def test_evse_resolved_from_transaction_and_main_meter_kept_apart() -> None:
    charger, site = ChargerState(), SiteState()
    feed(
        charger,
        site,
        [
            [reading("C", 2, 0, wh=100, tx="T1")],
            [reading("C", None, 60, wh=220, tx="T1")],  # names only the transaction
            [reading("C", 0, 60, w=99_000)],  # main meter
        ],
    )
    assert set(charger.evses) == {0, 2}
    assert {k for b in site.open.values() for k in b} == {"C/2"}


def test_rolling_views_from_closed_buckets() -> None:
    charger, site = ChargerState(), SiteState()
    feed(charger, site, [[reading("C", 1, t, wh=float(t))] for t in range(0, 301, 10)])  # 1 Wh/s
    site.finalise(T0 + 5 * BUCKET_MS + RULES.grace_ms, RULES)
    buckets = [site_bucket("S", site, T0 + i * BUCKET_MS, None, final=True) for i in range(5)]
    assert buckets[-1].rolling_5m_mean_power_w == pytest.approx(3600)
    assert buckets[-1].rolling_15m_energy_wh == pytest.approx(300)


def test_transactions_that_never_end_do_not_pile_up() -> None:
    charger, site = ChargerState(), SiteState()
    feed(charger, site, [[reading("C", 1, t, wh=float(t), tx=f"T{t}")] for t in range(0, 2000, 10)])
    assert len(charger.tx_evse) == 64
    assert "T1990" in charger.tx_evse and "T0" not in charger.tx_evse


def _peak_by_definition(contribs: list[Contribution]) -> float:
    """At each reading time of the bucket, the sum of each EVSE's value in force then."""
    if not any(c.powers for c in contribs):
        return sum(c.carried_power_w or 0.0 for c in contribs)

    def in_force(c: Contribution, t: int) -> float:
        held = [w for ts, w in c.powers if ts <= t]
        return (held[-1] if held else c.carried_power_w) or 0.0

    times = sorted({t for c in contribs for t, _ in c.powers})
    return max(0.0, *(sum(in_force(c, t) for c in contribs) for t in times))


def test_coincident_peak_is_the_largest_sum_in_force_at_a_reading_time() -> None:
    r = random.Random(7)
    for _ in range(2000):
        site = SiteState()
        for e in range(r.randrange(1, 25)):
            times = sorted(r.sample(range(T0, T0 + BUCKET_MS, 1000), r.randrange(0, 7)))
            powers = tuple((t, r.choice([0.0, r.uniform(0, 22_000), 7_400.0])) for t in times)
            carried = r.choice([None, 0.0, r.uniform(0, 22_000)])
            site.add(Contribution("S", T0, f"C{e}/1", 8, 1.0, powers, carried, True))
        expected = _peak_by_definition(list(site.open[T0].values()))
        assert site_bucket("S", site, T0, None, final=False).peak_power_w == pytest.approx(
            expected, rel=1e-12
        )
