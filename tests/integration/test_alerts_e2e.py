"""Alerts end to end on the real services: faults, warnings, offline chargers, a worker
killed while a charger is silent, and the real Alertmanager.

Live timing (received_at = now): raise after 1 s, clear after 2 s, offline after
2 x 2 s heartbeat + 1 s grace. Detection tolerance: a tick interval (0.5 s) plus the
hysteresis; start and end times are the events' own times, so they are checked to the
millisecond where the event fixes them and within 1.5 s where silence does.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import AlertLog, Fleet, fast_settings, now_ms, parse_ms
from tests.waiting import wait_for
from tests.workers import Worker, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def env(kafka_bootstrap: str, alertmanager_url: str, unique_name: str) -> Iterator[dict[str, str]]:
    yield from fast_settings(kafka_bootstrap, alertmanager_url, unique_name)


def _alertmanager(url: str, prefix: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'charger_id=~"{prefix}.*"'})
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=10) as response:
        return list(json.load(response))


def test_alert_lifecycle_survives_a_killed_worker(
    env: dict[str, str],
    kafka_bootstrap: str,
    alertmanager_url: str,
    cassandra_session: Any,
    unique_name: str,
    tmp_path: Path,
) -> None:
    u = unique_name
    faulty, warned, silent, ordered = f"{u}-F", f"{u}-W", f"{u}-S", f"{u}-O"
    run_cli(env, "agents.migrate")
    fleet = Fleet(kafka_bootstrap, u)
    alert_log = AlertLog(kafka_bootstrap, env["CHARGESTREAM_ALERTS_TOPIC"])
    worker = Worker(env, tmp_path / "worker")
    try:
        fleet.beating.update({faulty, warned, silent, ordered})
        fleet.start()
        fleet.status(faulty, "Available")
        fleet.status(warned, "Preparing", "WeakSignal")  # an error with a working status: a warning
        fault_ts = fleet.status(faulty, "Faulted", "GroundFailure")
        fleet.status(ordered, "Available")
        fleet.status(ordered, "Faulted", "GroundFailure", ts_ms=now_ms() - 10_000)  # older, arrives later

        [raised] = alert_log.wait(faulty, "connector_fault", ["firing"], worker)
        assert parse_ms(raised["starts_at"]) == fault_ts
        wait_for(
            lambda: any(
                a["labels"]["alertname"] == "connector_fault" for a in _alertmanager(alertmanager_url, u)
            ),
            20,
            "the fault in Alertmanager",
        )

        # The silent charger stops; the worker dies while it is silent and comes back.
        fleet.beating.discard(silent)
        time.sleep(1.5)
        last_seen = fleet.last_beat[silent]
        worker.proc.kill()
        worker.proc.wait()
        time.sleep(2)
        worker = Worker(env, tmp_path / "worker")

        [offline] = alert_log.wait(silent, "charger_offline", ["firing"], worker)
        assert abs(parse_ms(offline["starts_at"]) - (last_seen + 5000)) <= 1500

        available_ts = fleet.status(faulty, "Available")
        fleet.beating.add(silent)
        alert_log.wait(faulty, "connector_fault", ["firing", "resolved"], worker)
        alert_log.wait(silent, "charger_offline", ["firing", "resolved"], worker)
        assert parse_ms(alert_log.by_alert[(faulty, "connector_fault")][1]["ends_at"]) == available_ts

        # Exactly the expected alerts: nothing for the out-of-order status, no storm, no repeats
        # but identical re-sends of what was sent just before the kill (AlertLog.resent).
        time.sleep(3)
        alert_log.poll()
        got = {k: [r["status"] for r in v] for k, v in alert_log.by_alert.items()}
        assert got == {
            (faulty, "connector_fault"): ["firing", "resolved"],
            (silent, "charger_offline"): ["firing", "resolved"],
            (warned, "connector_warning"): ["firing"],
        }
        active = _alertmanager(alertmanager_url, u)
        assert [(a["labels"]["alertname"], a["labels"]["charger_id"]) for a in active] == [
            ("connector_warning", warned)
        ]
        assert active[0]["fingerprint"] and active[0]["annotations"]["dedup_key"].startswith("chargestream-")

        history = {
            (r.charger_id, r.alert_type): r
            for r in cassandra_session.execute(f"SELECT * FROM {u}.alert_history")
        }
        assert {k: r.status for k, r in history.items()} == {
            (faulty, "connector_fault"): "resolved",
            (silent, "charger_offline"): "resolved",
            (warned, "connector_warning"): "firing",
        }
        assert history[(faulty, "connector_fault")].ends_at is not None
    finally:
        fleet.stop()
        worker.stop()
        alert_log.consumer.close()
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {u}")
