"""Availability end to end on the real services: a scripted fleet faults and recovers,
sends a status out of order, goes silent and comes back, and one input partition's
chargers all go silent at once. Checked: exactly the expected alerts, the site
availability windows against an independent reference calculation (to the
millisecond: every change's time is fixed by the test), and the status, state and
availability tables in Cassandra.

Timing as in tests/fleet.py (offline after 5 s of silence), with 10 s and 60 s
availability windows and a 3 s grace.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import AlertLog, Fleet, TopicLog, fast_settings, now_ms, parse_ms
from tests.waiting import wait_for
from tests.workers import Worker, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

OFFLINE_AFTER_MS = 2 * 2000 + 1000
CLASS = {"Available": "available", "Charging": "occupied", "Preparing": "occupied", "Faulted": "faulted"}
CLASSES = ("available", "occupied", "reserved", "unavailable", "faulted", "unknown")


@pytest.fixture
def env(kafka_bootstrap: str, alertmanager_url: str, unique_name: str) -> Iterator[dict[str, str]]:
    yield from fast_settings(kafka_bootstrap, alertmanager_url, unique_name)


class Truth:
    """What the test sent: each port's status changes and each charger's offline spells."""

    def __init__(self) -> None:
        self.changes: dict[str, list[tuple[int, str]]] = {}
        self.offline: dict[str, list[tuple[int, int]]] = {}
        self.site_of: dict[str, str] = {}

    def status(
        self, fleet: Fleet, charger: str, status: str, code: str = "NoError", ts: int | None = None
    ) -> int:
        t = fleet.status(charger, status, code, ts_ms=ts)
        self.changes.setdefault(charger, []).append((t, CLASS[status]))
        return t

    def class_at(self, charger: str, t: int) -> str | None:
        if any(a <= t < b for a, b in self.offline.get(charger, [])):
            return "unknown"
        before = [c for ts, c in sorted(self.changes[charger]) if ts <= t]
        return before[-1] if before else None

    def window(self, site: str, w0: int, w1: int) -> dict[str, int]:
        """Port time per class in [w0, w1), walked between every change and offline edge."""
        out = dict.fromkeys(CLASSES, 0)
        for charger, site_id in self.site_of.items():
            if site_id != site:
                continue
            edges = {w0, w1} | {ts for ts, _ in self.changes[charger]}
            edges |= {x for spell in self.offline.get(charger, []) for x in spell}
            cuts = sorted(e for e in edges if w0 <= e <= w1)
            for a, b in pairwise(cuts):
                cls = self.class_at(charger, a)
                if cls is not None:
                    out[cls] += b - a
        return out


def _silence(fleet: Fleet, truth: Truth, chargers: list[str]) -> None:
    """Stop the chargers' heartbeats; note when each goes offline by the rules."""
    fleet.beating.difference_update(chargers)
    time.sleep(1.2)  # let an in-flight heartbeat round finish
    for c in chargers:
        truth.offline.setdefault(c, []).append((fleet.last_beat[c] + OFFLINE_AFTER_MS, 0))


def _resume(fleet: Fleet, truth: Truth, chargers: list[str]) -> None:
    """Heartbeats again; the first one received ends each offline spell."""
    before = {c: fleet.last_beat[c] for c in chargers}
    fleet.beating.update(chargers)
    wait_for(
        lambda: all(fleet.last_beat[c] > before[c] for c in chargers), 10, "heartbeats again", interval=0.02
    )
    for c in chargers:
        start, _ = truth.offline[c][-1]
        truth.offline[c][-1] = (start, fleet.last_beat[c])


def test_availability_alerts_and_tables_match_the_scripted_fleet(
    env: dict[str, str],
    kafka_bootstrap: str,
    cassandra_session: Any,
    unique_name: str,
    tmp_path: Path,
) -> None:
    u = unique_name
    a1, a2, b1 = f"{u}-A1", f"{u}-A2", f"{u}-B1"
    storm = [f"{u}-S{i:02d}" for i in range(12)]
    run_cli(env, "agents.migrate")
    fleet, truth = Fleet(kafka_bootstrap, u), Truth()
    for c, site in [(a1, "SITE-A"), (a2, "SITE-A"), (b1, "SITE-B"), *((s, "SITE-S") for s in storm)]:
        fleet.sites[c] = truth.site_of[c] = site
        fleet.partitions[c] = 1 if site == "SITE-S" else 0  # partition 1: the storm's alone
    alert_log = AlertLog(kafka_bootstrap, env["CHARGESTREAM_ALERTS_TOPIC"])
    windows = TopicLog(kafka_bootstrap, env["CHARGESTREAM_SITE_AVAILABILITY_TOPIC"])
    uptime = TopicLog(kafka_bootstrap, env["CHARGESTREAM_PORT_UPTIME_TOPIC"])
    states = TopicLog(kafka_bootstrap, env["CHARGESTREAM_CONNECTOR_STATE_TOPIC"])
    worker = Worker(env, tmp_path / "worker")
    try:
        end = _run_script(fleet, truth, alert_log, worker, [a1, a2, b1], storm)

        def closed_past_end() -> bool:
            worker.check_alive()
            got = {
                (r["site_id"], r["window_s"]) for _, r in windows.poll() if parse_ms(r["window_end"]) >= end
            }
            return {("SITE-A", 10), ("SITE-B", 10), ("SITE-S", 10)} <= got and any(
                r["charger_id"] == a1 for _, r in uptime.poll()
            )

        wait_for(closed_past_end, 120, "availability windows closed past the end of the script", interval=1)

        time.sleep(3)
        alert_log.poll()
        got = {k: [r["status"] for r in v] for k, v in alert_log.by_alert.items()}
        assert got == {
            (a1, "connector_fault"): ["firing", "resolved"],
            (b1, "connector_fault"): ["firing", "resolved"],
            ("SITE-B", "site_no_available_connector"): ["firing", "resolved"],
            (b1, "charger_offline"): ["firing", "resolved"],
            ("partition-1", "ingestion_stalled"): ["firing", "resolved"],
        }
        assert alert_log.resent == 0  # no crash here, so no change is sent twice

        # Availability: every closed window of every site equals the reference.
        first = min(ts for ch in truth.changes.values() for ts, _ in ch)
        checked: Counter[str] = Counter()
        for _, r in windows.poll():
            w0, w1 = parse_ms(r["window_start"]), parse_ms(r["window_end"])
            if w1 > end or w1 <= first:
                continue
            want = truth.window(r["site_id"], w0, w1)
            assert {c: r[f"{c}_ms"] for c in CLASSES} == want, (
                r["site_id"],
                r["window_s"],
                r["window_start"],
            )
            assert r["span_ms"] == sum(want.values())
            checked[r["site_id"]] += 1
        # The script lasts at least two 10 s windows (see _run_script), so each site has at
        # least two window ends inside it.
        assert min(checked[site] for site in ("SITE-A", "SITE-B", "SITE-S")) >= 2, checked
        site_rows = list(cassandra_session.execute(f"SELECT * FROM {u}.site_availability"))
        assert len(site_rows) == len(windows.poll())

        # NEVI figures follow the formula from their own fields.
        for _, r in uptime.poll():
            t, out, excl = r["period_minutes"], r["outage_minutes"], r["excluded_minutes"]
            assert r["uptime_percent"] == pytest.approx((t - (out - excl)) / t * 100, rel=1e-4)
        assert list(cassandra_session.execute(f"SELECT * FROM {u}.port_uptime"))

        assert 'chargestream_quirks_total{quirk="invalid_error_code"} 1.0' in worker.metrics()
        _check_state_tables(cassandra_session, u, a2, b1, [r for k, r in states.poll() if k == b1.encode()])
    finally:
        fleet.stop()
        worker.stop()
        for log in (windows, uptime, states):
            log.close()
        alert_log.consumer.close()
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {u}")


def _run_script(
    fleet: Fleet, truth: Truth, alert_log: AlertLog, worker: Worker, chargers: list[str], storm: list[str]
) -> int:
    """Faults, recoveries, an out-of-order status, a silent charger, a silent partition."""
    a1, a2, b1 = chargers
    fleet.beating.update(truth.site_of)
    fleet.start()
    for c in truth.site_of:
        truth.status(fleet, c, "Available")
    start = now_ms()
    time.sleep(3)

    # A fault that recovers; a site whose only port faults; an out-of-order status.
    truth.status(fleet, a1, "Faulted", "GroundFailure")
    truth.status(fleet, b1, "Faulted", "Error")  # not a 1.6 errorCode: normalised, counted
    alert_log.wait(a1, "connector_fault", ["firing"], worker)
    alert_log.wait("SITE-B", "site_no_available_connector", ["firing"], worker)
    truth.status(fleet, a1, "Available")
    truth.status(fleet, b1, "Available")
    occupied = truth.status(fleet, a2, "Charging")
    truth.status(fleet, a2, "Faulted", "OtherError", ts=occupied - 1000)  # older, arrives later
    alert_log.wait(a1, "connector_fault", ["firing", "resolved"], worker)
    alert_log.wait("SITE-B", "site_no_available_connector", ["firing", "resolved"], worker)

    # A charger goes silent and comes back.
    _silence(fleet, truth, [b1])
    alert_log.wait(b1, "charger_offline", ["firing"], worker)
    _resume(fleet, truth, [b1])
    alert_log.wait(b1, "charger_offline", ["firing", "resolved"], worker)

    # A whole partition goes silent: one ingestion alert, no charger or site alerts.
    _silence(fleet, truth, storm)
    alert_log.wait("partition-1", "ingestion_stalled", ["firing"], worker)
    _resume(fleet, truth, storm)
    alert_log.wait("partition-1", "ingestion_stalled", ["firing", "resolved"], worker)
    # Alerts can come fast enough to end the script inside its second 10 s window; run on
    # (chargers beating) until at least two window ends have passed for every site.
    time.sleep(max(0.0, (start + 21_000 - now_ms()) / 1000))
    return now_ms()


def _check_state_tables(session: Any, ks: str, a2: str, b1: str, b1_states: list[dict[str, Any]]) -> None:
    """Status history keeps the out-of-order status; the latest state does not take it."""
    history = session.execute(
        f"SELECT status, current FROM {ks}.connector_status_history WHERE charger_id = %s ALLOW FILTERING",
        (a2,),
    )
    assert sorted((r.status, r.current) for r in history) == [
        ("Available", True),
        ("Charging", True),
        ("Faulted", False),
    ]
    codes = session.execute(
        f"SELECT error_code, vendor_error_code FROM {ks}.connector_status_history "
        "WHERE charger_id = %s AND status = 'Faulted' ALLOW FILTERING",
        (b1,),
    )
    assert [(r.error_code, r.vendor_error_code) for r in codes] == [("OtherError", "Error")]
    [state] = session.execute(
        f"SELECT status, status_class, charger_online FROM {ks}.connector_state "
        "WHERE site_id = 'SITE-A' AND charger_id = %s",
        (a2,),
    )
    assert (state.status, state.status_class, state.charger_online) == ("Charging", "occupied", True)
    assert [r["online"] for r in b1_states][-2:] == [False, True]
    [site_b] = session.execute(f"SELECT available, ports FROM {ks}.site_status WHERE site_id = 'SITE-B'")
    assert (site_b.available, site_b.ports) == (1, 1)
