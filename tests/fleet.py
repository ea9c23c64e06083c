"""A scripted fleet for the end-to-end tests: chargers sending live messages
(received_at = now) with heartbeats in the background, the settings of a fast-timing
worker, and readers of the derived topics."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer

from tests.waiting import wait_for
from tests.workers import Worker, delete_topics


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


class Fleet:
    """Sends chargers' messages with received_at = now, and heartbeats in the background."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
        self.prefix = prefix
        self.beating: set[str] = set()
        self.sites: dict[str, str] = {}  # charger -> site (SITE-Q otherwise)
        self.partitions: dict[str, int] = {}
        self.last_beat: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def send(self, charger: str, action: str, payload: dict[str, Any]) -> int:
        now = now_ms()
        doc = {
            "charger_id": charger,
            "site_id": self.sites.get(charger, "SITE-Q"),
            "ocpp_version": "1.6",
            "action": action,
            "received_at": iso(now),
            "payload": payload,
        }
        topic = f"{self.prefix}.ocpp.{action}"
        if charger in self.partitions:  # all of a charger's messages on one chosen partition
            self.producer.produce(
                topic, key=charger.encode(), value=orjson.dumps(doc), partition=self.partitions[charger]
            )
        else:
            self.producer.produce(topic, key=charger.encode(), value=orjson.dumps(doc))
        self.producer.flush(10)
        return now

    def status(self, charger: str, status: str, code: str = "NoError", ts_ms: int | None = None) -> int:
        ts = ts_ms or now_ms()
        self.send(
            charger,
            "StatusNotification",
            {"connectorId": 1, "status": status, "errorCode": code, "timestamp": iso(ts)},
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


def fast_settings(kafka_bootstrap: str, alertmanager_url: str, unique_name: str) -> Iterator[dict[str, str]]:
    """Worker settings with its own topics and keyspace and seconds-scale timing:
    raise after 1 s, clear after 2 s, offline after 2 x 2 s heartbeat + 1 s grace."""
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
        "CHARGESTREAM_SITE_AVAILABILITY_TOPIC": f"{u}.site.availability",
        "CHARGESTREAM_SITE_STATUS_TOPIC": f"{u}.site.status",
        "CHARGESTREAM_CONNECTOR_STATUS_TOPIC": f"{u}.connector.status",
        "CHARGESTREAM_CONNECTOR_STATE_TOPIC": f"{u}.connector.state",
        "CHARGESTREAM_PORT_UPTIME_TOPIC": f"{u}.port.uptime",
        "CHARGESTREAM_AVAILABILITY_WINDOWS_SECONDS": "10,60",
        "CHARGESTREAM_GRACE_SECONDS": "3",
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
    delete_topics(kafka_bootstrap, u)


class TopicLog:
    """Every record of a derived topic so far, in order, as (key, value)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic + ".check", "auto.offset.reset": "earliest"}
        )
        self.consumer.subscribe([topic])
        self.records: list[tuple[bytes, dict[str, Any]]] = []

    def poll(self) -> list[tuple[bytes, dict[str, Any]]]:
        while (msg := self.consumer.poll(0.2)) is not None:
            if not msg.error():
                self.records.append((msg.key() or b"", orjson.loads(msg.value() or b"{}")))
        return self.records

    def close(self) -> None:
        self.consumer.close()


class AlertLog(TopicLog):
    """Everything on the alerts topic so far, by (charger, or site where none, type).

    An identical copy of a record already seen is left out of ``by_alert`` and counted in
    ``resent``: after a crash the worker may send a change again (README, "Delivery
    semantics"); a change sent twice with different content is still caught."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic)
        self.by_alert: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.resent = 0
        self._seen = 0

    def poll(self) -> list[tuple[bytes, dict[str, Any]]]:
        super().poll()
        for key, r in self.records[self._seen :]:
            assert key == r["fingerprint"].encode()
            sent = self.by_alert[(r["charger_id"] or r["site_id"], r["type"])]
            if r in sent:
                self.resent += 1
            else:
                sent.append(r)
        self._seen = len(self.records)
        return self.records

    def statuses(self, charger: str, kind: str) -> list[str]:
        self.poll()
        return [r["status"] for r in self.by_alert[(charger, kind)]]

    def wait(self, charger: str, kind: str, want: list[str], worker: Worker) -> list[dict[str, Any]]:
        def ok() -> bool:
            worker.check_alive()
            return self.statuses(charger, kind) == want

        wait_for(ok, 60, f"{kind} {want} for {charger} (have {self.statuses(charger, kind)})", interval=0.5)
        return self.by_alert[(charger, kind)]
