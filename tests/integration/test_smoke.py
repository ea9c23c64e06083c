"""Each local service is real: one round trip through each, with the clients we ship."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from tests.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _consume_one(
    bootstrap: str, topic: str, group: str, timeout: float, guard: Callable[[], None] = lambda: None
) -> Any:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:

        def poll() -> Any:
            guard()
            msg = consumer.poll(1.0)
            if msg is None:
                return None
            assert msg.error() is None, msg.error()
            return msg

        return wait_for(poll, timeout, f"a message on {topic}", interval=0)
    finally:
        consumer.close()


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10_000})
    errors: list[Any] = []
    producer.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(15) == 0, "message not delivered within 15 s"
    assert errors == [None]


def test_kafka_produce_consume(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], unique_name: str
) -> None:
    topic = kafka_topics("smoke", partitions=2)
    _produce(kafka_bootstrap, topic, b"CP-1", b'{"hello": "kafka"}')
    msg = _consume_one(kafka_bootstrap, topic, unique_name, timeout=30)
    assert (msg.key(), msg.value()) == (b"CP-1", b'{"hello": "kafka"}')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_faust_agent_round_trips_through_the_broker(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], unique_name: str, tmp_path: Path
) -> None:
    source, sink = kafka_topics("echo.in"), kafka_topics("echo.out")
    env = {
        **os.environ,
        "ECHO_APP_ID": unique_name,
        "ECHO_IN": source,
        "ECHO_OUT": sink,
        "CHARGESTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CHARGESTREAM_DATA_DIR": str(tmp_path),
        "CHARGESTREAM_WEB_PORT": str(_free_port()),
        "PYTHONPATH": str(REPO),
    }
    log_path = tmp_path / "worker.log"
    log = log_path.open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.faust_echo_app", "worker", "--loglevel", "warn"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _produce(kafka_bootstrap, source, b"CP-1", b"olleh")

        def worker_alive() -> None:
            assert worker.poll() is None, f"worker exited {worker.returncode}:\n{log_path.read_text()}"

        msg = _consume_one(kafka_bootstrap, sink, unique_name + "_check", timeout=90, guard=worker_alive)
        assert msg.value() == b"hello"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    assert worker.returncode is not None


def test_cassandra_write_read(cassandra_session: Any, keyspace: str) -> None:
    cassandra_session.execute(
        f"CREATE TABLE {keyspace}.readings (charger_id text, ts timestamp, power_w double, "
        "PRIMARY KEY (charger_id, ts))"
    )
    insert = cassandra_session.prepare(
        f"INSERT INTO {keyspace}.readings (charger_id, ts, power_w) VALUES (?, ?, ?)"
    )
    ts = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    cassandra_session.execute(insert, ("CP-1", ts, 7400.0))
    select = cassandra_session.prepare(f"SELECT ts, power_w FROM {keyspace}.readings WHERE charger_id = ?")
    rows = list(cassandra_session.execute(select, ("CP-1",)))
    assert [(r.ts.replace(tzinfo=UTC), r.power_w) for r in rows] == [(ts, 7400.0)]


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_prometheus_scrapes_a_client_endpoint(
    prometheus_url: str, prometheus_target: Callable[[str], dict[str, str]]
) -> None:
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    registry = CollectorRegistry()
    counter = Counter("chargestream_smoke_events", "Smoke-test events", registry=registry)
    counter.inc(3)
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        labels = prometheus_target(f"127.0.0.1:{port}")
        query = f'chargestream_smoke_events_total{{test="{labels["test"]}"}}'
        url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})

        def scraped_value() -> float | None:
            result = _get_json(url)["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        assert wait_for(scraped_value, 60, f"Prometheus to answer {query}") == 3.0
    finally:
        server.shutdown()
        thread.join(5)


def test_alertmanager_lists_a_posted_alert(alertmanager_url: str, unique_name: str) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "ChargerOffline", "charger_id": "CP-1", "test": unique_name},
        "annotations": {"summary": "smoke test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
    request = urllib.request.Request(
        f"{alertmanager_url}/api/v2/alerts",
        data=json.dumps([alert]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    query = urllib.parse.urlencode({"filter": f'test="{unique_name}"'})

    def listed() -> list[Any]:
        return list(_get_json(f"{alertmanager_url}/api/v2/alerts?{query}"))

    [got] = wait_for(listed, 30, "the alert to be listed")
    assert got["labels"]["charger_id"] == "CP-1"
    assert got["fingerprint"]
    assert got["status"]["state"] == "active"
