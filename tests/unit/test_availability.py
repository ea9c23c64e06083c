"""Time-weighted availability: window edges, out-of-order transitions, offline time, NEVI."""

from __future__ import annotations

import pytest

from agents.domain.availability import (
    connector_availability,
    nevi_uptime_percent,
)
from agents.domain.status import StatusClass as C

M = 60_000
T0 = 1_795_521_600_000


def test_state_before_the_window_counts_and_edges_are_clipped() -> None:
    tr = [
        (T0 - 10 * M, C.AVAILABLE),
        (T0 + 20 * M, C.FAULTED),
        (T0 + 50 * M, C.OCCUPIED),
        (T0 + 70 * M, C.AVAILABLE),
    ]
    a = connector_availability(tr, T0, T0 + 60 * M)
    assert a.ms == {C.AVAILABLE: 20 * M, C.FAULTED: 30 * M, C.OCCUPIED: 10 * M}
    assert a.uptime == pytest.approx(0.5)


def test_nothing_known_before_the_first_transition_is_unknown() -> None:
    a = connector_availability([(T0 + 15 * M, C.AVAILABLE)], T0, T0 + 60 * M)
    assert a.unknown_ms == 15 * M and a.uptime == pytest.approx(0.75)


def test_offline_time_is_unknown_not_the_last_status() -> None:
    tr = [(T0, C.OCCUPIED)]
    a = connector_availability(tr, T0, T0 + 60 * M, offline=[(T0 + 10 * M, T0 + 40 * M)])
    assert a.ms == {C.OCCUPIED: 30 * M, C.UNKNOWN: 30 * M}


def test_excluded_time_and_planned_unavailability_leave_the_denominator() -> None:
    tr = [(T0, C.AVAILABLE), (T0 + 30 * M, C.UNAVAILABLE), (T0 + 40 * M, C.FAULTED)]
    a = connector_availability(tr, T0, T0 + 60 * M, excluded=[(T0 + 40 * M, T0 + 50 * M)])
    assert a.excluded_ms == 20 * M  # 10 min planned unavailable + 10 min excluded outage
    assert a.uptime == pytest.approx(30 / 40)


def test_site_totals_add_connector_time() -> None:
    a = connector_availability([(T0, C.AVAILABLE)], T0, T0 + 60 * M)
    b = connector_availability([(T0, C.FAULTED)], T0, T0 + 60 * M)
    site = a + b
    assert site.uptime == pytest.approx(0.5) and site.span_ms == 120 * M


def test_nevi_formula() -> None:
    # 2 days of outage in a year, 1 day of it for an excluded reason (utility outage).
    assert nevi_uptime_percent(2 * 1440, 1440) == pytest.approx((525_600 - 1440) / 525_600 * 100)
    # A 30-day month with 144 minutes of outage, none excluded.
    assert nevi_uptime_percent(144, 0, 30 * 1440) == pytest.approx(100 - 144 / (30 * 1440) * 100)
