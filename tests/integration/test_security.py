"""Kafka with SASL/SCRAM over TLS and Cassandra with a password over TLS: a second Kafka and
Cassandra, started by infra.local in secure mode with certificates this test makes, and
the whole pipeline pointed at them through settings alone.

Checked: data flows end to end (simulator -> worker -> Cassandra rows and a derived topic);
wrong credentials fail with a clear error; the password appears in no log, output, metric
or page; the metrics server listens only where configured.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.cassandra_session import connect
from agents.config import Settings
from agents.kafka_clients import confluent_config
from infra.local.config import LocalSettings
from infra.local.manager import down, up
from tests.certs import make_certificates
from tests.waiting import wait_for
from tests.workers import Worker, free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class SecureStack:
    env: dict[str, str]  # CHARGESTREAM_* settings for a worker
    password: str


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    root = tmp_path_factory.mktemp("secure")
    certs = make_certificates(root / "certs")
    password = secrets.token_urlsafe(18)
    local = LocalSettings(
        state_dir=root / "state",
        secure_dir=certs,
        secure_password=password,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        cassandra_port=free_port(),
        cassandra_storage_port=free_port(),
        cassandra_heap="512m",
    )
    up(local, ["kafka", "cassandra"], report=False)
    env = {
        "CHARGESTREAM_KAFKA_BOOTSTRAP": local.kafka_bootstrap,
        "CHARGESTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CHARGESTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CHARGESTREAM_KAFKA_SASL_USERNAME": local.secure_username,
        "CHARGESTREAM_KAFKA_SASL_PASSWORD": password,
        "CHARGESTREAM_KAFKA_SSL_CAFILE": str(certs / "ca.pem"),
        "CHARGESTREAM_CASSANDRA_PORT": str(local.cassandra_port),
        "CHARGESTREAM_CASSANDRA_USERNAME": local.secure_username,
        "CHARGESTREAM_CASSANDRA_PASSWORD": password,
        "CHARGESTREAM_CASSANDRA_SSL": "true",
        "CHARGESTREAM_CASSANDRA_SSL_CAFILE": str(certs / "ca.pem"),
        "CHARGESTREAM_CASSANDRA_KEYSPACE": "secure_test",
        "CHARGESTREAM_APP_ID": "secure-test",
        "CHARGESTREAM_GRACE_SECONDS": "3",
        "CHARGESTREAM_IDLE_PARTITION_SECONDS": "2",
        "CHARGESTREAM_TOPIC_PARTITIONS": "2",
    }
    try:
        yield SecureStack(env, password)
    finally:
        down(local, ["kafka", "cassandra"], report=False)


def test_the_pipeline_runs_on_sasl_ssl_kafka_and_password_tls_cassandra(
    secure_stack: SecureStack, tmp_path: Path
) -> None:
    env, password = secure_stack.env, secure_stack.password
    outputs = [run_cli(env, "agents", "migrate")]
    simulate = ("simulate", "--fast", "--sites", "2", "--chargers", "2", "--duration", "300")
    outputs.append(run_cli(env, "agents", *simulate, timeout=180))
    worker = Worker(env, tmp_path / "worker", web_host="127.0.0.2")  # loopback, not 127.0.0.1
    settings = Settings.model_validate({k.removeprefix("CHARGESTREAM_").lower(): v for k, v in env.items()})
    cluster, session = connect(settings)
    try:

        def rows_written() -> bool:
            worker.check_alive()
            counts = [
                session.execute(f"SELECT count(*) FROM secure_test.{t}").one()[0]
                for t in ("evse_samples", "site_power_1m", "connector_status_history")
            ]
            return all(counts)

        wait_for(rows_written, 120, "samples, site power and status rows in Cassandra", interval=2)
        assert _derived_records(settings, settings.site_power_topic) > 0

        # Where the web server listens: the configured host only.
        pages = [worker.metrics(), worker.metrics("healthz")]
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", worker.web_port), 2),
        ):
            pass

        # Wrong credentials: a clear error, and no password in it.
        wrong = {**env, "CHARGESTREAM_CASSANDRA_PASSWORD": "not-" + password}
        failed = run_cli(wrong, "agents", "migrate", "--skip-topics", ok=False)
        assert "authentication" in failed.lower() or "bad credentials" in failed.lower(), failed
        wrong = {**env, "CHARGESTREAM_KAFKA_SASL_PASSWORD": "not-" + password}
        failed_kafka = run_cli(wrong, "agents", "migrate", ok=False)
        assert "authentication" in failed_kafka.lower(), failed_kafka
        outputs += [failed, failed_kafka]
    finally:
        cluster.shutdown()
        worker.stop()
    for text in [*outputs, *pages, worker.log_path.read_text(errors="replace")]:
        assert password not in text


def test_a_plaintext_client_gets_nothing_from_the_secure_broker(secure_stack: SecureStack) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    bootstrap = secure_stack.env["CHARGESTREAM_KAFKA_BOOTSTRAP"]
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


def _derived_records(settings: Settings, topic: str) -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer: Any = Consumer(confluent_config(settings, {"group.id": "secure-test-reader"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    finally:
        consumer.close()
