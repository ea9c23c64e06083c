"""Alerts end to end on the real services: faults, warnings, offline chargers, a worker
killed while a charger is silent, and the real Alertmanager.

Live timing (received_at = now): raise after 1 s, clear after 2 s, offline after
2 x 2 s heartbeat + 1 s grace. Detection tolerance: a tick interval (0.5 s) plus the
hysteresis; start and end times are the events' own times, so they are checked to the
millisecond where the event fixes them and within 1.5 s where silence does.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from tests.waiting import wait_for
from tests.workers import Worker, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _now() -> int:
    return int(time.time() * 1000)


class Fleet:
    """Sends chargers' messages with received_at = now, and heartbeats in the background."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
        self.prefix = prefix
        self.beating: set[str] = set()
        self.last_beat: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def send(self, charger: str, action: str, payload: dict[str, Any]) -> int:
        now = _now()
        doc = {
            "charger_id": charger,
            "site_id": "SITE-Q",
            "ocpp_version": "1.6",
            "action": action,
            "received_at": _iso(now),
            "payload": payload,
        }
        self.producer.produce(f"{self.prefix}.ocpp.{action}", key=charger.encode(), value=orjson.dumps(doc))
        self.producer.flush(10)
        return now

    def status(self, charger: str, status: str, code: str = "NoError", ts_ms: int | None = None) -> int:
        ts = ts_ms or _now()
        self.send(
            charger,
            "StatusNotification",
            {"connectorId": 1, "status": status, "errorCode": code, "timestamp": _iso(ts)},
        )
        return ts

    def _beat(self) -> None:
        while not self._stop.is_set():
            for charger in list(self.beating):
                self.last_beat[charger] = self.send(charger, "Heartbeat", {})
            self._stop.wait(1.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def env(kafka_bootstrap: str, alertmanager_url: str, unique_name: str) -> Iterator[dict[str, str]]:
    u = unique_name
    settings = {
        "CHARGESTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CHARGESTREAM_APP_ID": u,
        "CHARGESTREAM_METER_TOPICS": f"{u}.ocpp.MeterValues",
        "CHARGESTREAM_STATUS_TOPICS": f"{u}.ocpp.StatusNotification,{u}.ocpp.Heartbeat",
        "CHARGESTREAM_TICKS_TOPIC": f"{u}.ticks",
        "CHARGESTREAM_ALERTS_TOPIC": f"{u}.alerts",
        "CHARGESTREAM_REGISTRY_TOPIC": f"{u}.chargers",
        "CHARGESTREAM_SITE_CONTRIBUTIONS_TOPIC": f"{u}.contributions",
        "CHARGESTREAM_SITE_POWER_TOPIC": f"{u}.site.power",
        "CHARGESTREAM_CASSANDRA_KEYSPACE": u,
        "CHARGESTREAM_TOPIC_PARTITIONS": "2",
        "CHARGESTREAM_HEARTBEAT_INTERVAL_SECONDS": "2",
        "CHARGESTREAM_MISSED_HEARTBEATS": "2",
        "CHARGESTREAM_OFFLINE_GRACE_SECONDS": "1",
        "CHARGESTREAM_TICK_INTERVAL_SECONDS": "0.5",
        "CHARGESTREAM_IDLE_PARTITION_SECONDS": "2",
        "CHARGESTREAM_ALERT_RAISE_AFTER_SECONDS": "1",
        "CHARGESTREAM_ALERT_CLEAR_AFTER_SECONDS": "2",
        "CHARGESTREAM_ALERT_RENOTIFY_SECONDS": "5",
        "CHARGESTREAM_ALERTMANAGER_URL": alertmanager_url,
    }
    yield settings
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(u)]
    if ours:
        for f in admin.delete_topics(ours, operation_timeout=30).values():
            f.result(timeout=30)


class AlertLog:
    """Everything on the alerts topic so far, by (charger, type)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic + ".check", "auto.offset.reset": "earliest"}
        )
        self.consumer.subscribe([topic])
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)

    def poll(self) -> None:
        while (msg := self.consumer.poll(0.2)) is not None:
            if not msg.error():
                r = orjson.loads(msg.value() or b"{}")
                assert msg.key() == r["fingerprint"].encode()
                self.records[(r["charger_id"] or r["site_id"], r["type"])].append(r)

    def statuses(self, charger: str, kind: str) -> list[str]:
        self.poll()
        return [r["status"] for r in self.records[(charger, kind)]]

    def wait(self, charger: str, kind: str, want: list[str], worker: Worker) -> list[dict[str, Any]]:
        def ok() -> bool:
            worker.check_alive()
            return self.statuses(charger, kind) == want

        wait_for(ok, 60, f"{kind} {want} for {charger} (have {self.statuses(charger, kind)})", interval=0.5)
        return self.records[(charger, kind)]


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
        fleet.status(ordered, "Faulted", "GroundFailure", ts_ms=_now() - 10_000)  # older, arrives later

        [raised] = alert_log.wait(faulty, "connector_fault", ["firing"], worker)
        assert _ms(raised["starts_at"]) == fault_ts
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
        assert abs(_ms(offline["starts_at"]) - (last_seen + 5000)) <= 1500

        available_ts = fleet.status(faulty, "Available")
        fleet.beating.add(silent)
        alert_log.wait(faulty, "connector_fault", ["firing", "resolved"], worker)
        alert_log.wait(silent, "charger_offline", ["firing", "resolved"], worker)
        assert _ms(alert_log.records[(faulty, "connector_fault")][1]["ends_at"]) == available_ts

        # Exactly the expected alerts: nothing for the out-of-order status, no storm, no repeats.
        time.sleep(3)
        alert_log.poll()
        got = {k: [r["status"] for r in v] for k, v in alert_log.records.items()}
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
