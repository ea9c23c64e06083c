"""Folding a site's timeline into windows: it must equal the batch calculation over the
same changes, whatever the order they arrive in (within the grace), and keep memory small."""

from __future__ import annotations

import random

import pytest

from agents.domain.availability import connector_availability
from agents.domain.site_timeline import (
    WINDOW,
    ChargerLine,
    FoldRules,
    SiteTimeline,
    current_counts,
    fold,
    no_port_in_service,
    record_liveness,
    record_status,
    site_totals,
)
from agents.domain.status import StatusClass as C

M = 60_000
H = 60 * M
T0 = 1_795_521_600_000
RULES = FoldRules(windows_ms=(M, H))


def test_windows_close_at_their_edges_and_offline_time_is_unknown() -> None:
    tl = SiteTimeline()
    record_status(tl, "A", "1/1", T0 + 10_000, C.AVAILABLE)
    record_status(tl, "A", "1/1", T0 + 70_000, C.OCCUPIED)
    record_liveness(tl, "A", T0 + 100_000, True)
    record_liveness(tl, "A", T0 + 110_000, False)
    closed, _ = fold(tl, T0 + 2 * M, RULES)
    minutes = [w.availability for w in closed if w.length_ms == M]
    assert [a.ms for a in minutes] == [
        {C.AVAILABLE: 50_000},  # counted from the first status on
        {C.AVAILABLE: 10_000, C.OCCUPIED: 40_000, C.UNKNOWN: 10_000},
    ]
    assert not [w for w in closed if w.length_ms == H]  # the hour is still open


def test_a_late_change_counts_from_the_fold_point_and_is_reported() -> None:
    tl = SiteTimeline()
    record_status(tl, "A", "1/1", T0, C.AVAILABLE)
    fold(tl, T0 + M, RULES)
    assert not record_status(tl, "A", "1/1", T0 + 30_000, C.FAULTED)  # inside a closed window
    closed, _ = fold(tl, T0 + 2 * M, RULES)
    assert closed[0].availability.ms == {C.FAULTED: M}
    # An older status than the one in force changes nothing.
    assert not record_status(tl, "A", "1/1", T0 + 20_000, C.AVAILABLE)
    closed, _ = fold(tl, T0 + 3 * M, RULES)
    assert closed[0].availability.ms == {C.FAULTED: M}


@pytest.mark.parametrize("seed", range(20))
def test_fold_equals_the_batch_calculation_whatever_the_arrival_order(seed: int) -> None:
    rnd = random.Random(seed)
    grace = 30_000
    classes = list(C)
    classes.remove(C.UNKNOWN)
    changes = sorted(
        {T0 + rnd.randrange(0, 3 * H): rnd.choice(classes) for _ in range(rnd.randrange(1, 60))}.items()
    )
    offline: list[tuple[int, int]] = []
    t = T0 + rnd.randrange(0, H)
    while t < T0 + 3 * H:
        end = t + rnd.randrange(1_000, 20 * M)
        offline.append((t, end))
        t = end + rnd.randrange(1_000, H)
    arrivals: list[tuple[int, str, int, C | bool]] = [
        (ts + rnd.randrange(0, grace), "status", ts, cls) for ts, cls in changes
    ]
    arrivals += [(a, "live", a, True) for a, _ in offline] + [(b, "live", b, False) for _, b in offline]
    arrivals.sort(key=lambda x: x[0])

    tl = SiteTimeline()
    closed = []
    for at, _kind, ts, value in arrivals:
        closed += fold(tl, (at - grace) // M * M, RULES)[0]
        if isinstance(value, C):
            assert record_status(tl, "A", "1/1", ts, value)
        else:
            assert record_liveness(tl, "A", ts, bool(value))
    closed += fold(tl, T0 + 4 * H, RULES)[0]

    first = changes[0][0]
    for w in closed:
        a = w.availability
        ref = connector_availability(changes, max(a.window_start, first), a.window_end, offline=offline)
        ref_ms = {k: v for k, v in ref.ms.items() if v}
        assert a.ms == ref_ms, (w.length_ms, a.window_start)
        assert a.excluded_ms == ref.excluded_ms
    assert sum(w.availability.span_ms for w in closed if w.length_ms == H) == T0 + 4 * H - first


def test_excluded_outages_and_nevi_monthly_and_trailing() -> None:
    day = 24 * H
    start = T0 - T0 % day
    utility_outage = (start + 3 * H, start + 5 * H)
    rules = FoldRules(windows_ms=(H, day), excluded=lambda c: [utility_outage] if c == "A" else [])
    tl = SiteTimeline()
    record_status(tl, "A", "1/1", start, C.AVAILABLE)
    record_status(tl, "A", "1/1", start + 2 * H, C.FAULTED)  # faulted 02:00-04:00 ...
    record_status(tl, "A", "1/1", start + 4 * H, C.AVAILABLE)  # ... 03:00-04:00 of it excluded
    closed, uptimes = fold(tl, start + day, rules)
    [daily] = [w.availability for w in closed if w.length_ms == day]
    assert daily.excluded_ms == H  # up time inside the exclusion is still up
    month, trailing = uptimes
    assert (month.period, trailing.period) == ("month", "trailing_12_months")
    assert (month.period_minutes, month.outage_minutes, month.excluded_minutes) == (1440, 120, 60)
    assert month.uptime_percent == pytest.approx((1440 - 60) / 1440 * 100)
    assert trailing.period_minutes == 1440 and trailing.period_start < month.period_start


def test_current_counts_and_the_site_condition() -> None:
    tl = SiteTimeline()
    record_status(tl, "A", "1/1", T0, C.FAULTED)
    record_status(tl, "A", "0/0", T0, C.AVAILABLE)  # the charger itself: not a port
    record_status(tl, "B", "1/1", T0, C.OCCUPIED)
    assert current_counts(tl)[C.OCCUPIED] == 1 and not no_port_in_service(current_counts(tl))
    record_liveness(tl, "B", T0 + M, True)
    counts = current_counts(tl)
    assert (counts[C.FAULTED], counts[C.UNKNOWN], sum(counts.values())) == (1, 1, 2)
    assert no_port_in_service(counts)  # the one port known is faulted
    record_liveness(tl, "A", T0 + M, True)
    assert not no_port_in_service(current_counts(tl))  # all unknown: the offline alerts speak
    assert not no_port_in_service(current_counts(SiteTimeline()))


@pytest.mark.parametrize("seed", range(20))
def test_kept_counts_equal_a_recount_through_changes_late_ones_and_folds(seed: int) -> None:
    """current_counts is kept up to date by the changes and folds, not recounted: after any
    of them it must equal a count of every port from scratch."""
    rnd = random.Random(seed)
    tl = SiteTimeline()
    current_counts(tl)  # from here on kept
    folded = T0
    for _ in range(300):
        ts = folded + rnd.randrange(-2 * M, 3 * M)  # some before the fold point: late
        charger = rnd.choice("ABCD")
        if rnd.random() < 0.2:
            record_liveness(tl, charger, ts, rnd.random() < 0.5)
        elif rnd.random() < 0.05:
            folded += rnd.randrange(M)
            fold(tl, folded, RULES)
        else:
            connector = rnd.choice(["0/0", "1/1", "1/2", "2/1"])
            record_status(tl, charger, connector, ts, rnd.choice(list(C)))
        kept = current_counts(tl)
        tl.counts = None
        assert kept == current_counts(tl)


def test_site_totals_add_connectors_of_the_same_window() -> None:
    tl = SiteTimeline()
    record_status(tl, "A", "1/1", T0 - T0 % M, C.AVAILABLE)
    record_status(tl, "A", "2/1", T0 - T0 % M, C.FAULTED)
    closed, _ = fold(tl, T0 - T0 % M + M, RULES)
    [(key, site)] = site_totals(closed).items()
    assert key == (M, T0 - T0 % M) and site.uptime == pytest.approx(0.5)


def test_memory_per_connector_stays_small_after_a_busy_day() -> None:
    tl = SiteTimeline()
    for i in range(2000):
        record_status(tl, "A", "1/1", T0 + i * 40_000, C.AVAILABLE if i % 2 else C.OCCUPIED)
        fold(tl, T0 + i * 40_000 - M, RULES)  # the fold point a minute behind the newest status
    line: ChargerLine = tl.chargers["A"]
    conn = line.connectors["1/1"]
    assert len(conn.pending) <= 3 and len(conn.open) == 2 * WINDOW


def test_sites_share_one_copy_of_each_connector_key_and_charger_id() -> None:
    sites = [SiteTimeline(), SiteTimeline()]
    for tl in sites:  # each change brings copies of its own, as decoded from stage 2's records
        record_status(tl, "".join(["C", "1"]), "".join(["1/", "1"]), T0, C.AVAILABLE)
        record_liveness(tl, "".join(["C", "2"]), T0, offline=True)
    (c1, line1), (c2, _) = sites[0].chargers.items()
    (d1, line2), (d2, _) = sites[1].chargers.items()
    assert c1 is d1 and c2 is d2
    assert next(iter(line1.connectors)) is next(iter(line2.connectors))
