"""A worker's start against the real local Kafka: a topic declaration the broker refuses for
want of brokers is tried again, and then ends the start with an error that names it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from agents.config import Settings, renamed_topics
from tests.workers import Worker, delete_topics

pytestmark = pytest.mark.integration
WAIT_S = 4


def test_a_declaration_kafka_keeps_refusing_for_want_of_brokers_ends_the_start(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """Replication factor 2 on the one local broker: Kafka answers as it does while brokers
    are down or fenced (InvalidReplicationFactorError), so the worker tries again for
    KAFKA_STARTUP_WAIT_SECONDS, then exits naming the topic (agents/topic_declare.py)."""
    ours = renamed_topics(
        Settings.model_construct(), lambda t: f"{unique_name}.{t}", inputs=True, registry=True
    )
    env = {
        **ours,
        "CHARGESTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CHARGESTREAM_APP_ID": unique_name,
        "CHARGESTREAM_TOPIC_REPLICATION_FACTOR": "2",
        "CHARGESTREAM_KAFKA_STARTUP_WAIT_SECONDS": str(WAIT_S),
    }
    began = time.monotonic()
    worker = Worker(env, tmp_path / "w")
    try:
        worker.proc.wait(timeout=120)  # it gives up and exits
        took = time.monotonic() - began
        log = worker.log_path.read_text(errors="replace")
        assert worker.proc.returncode != 0, log
        assert re.search(rf"declaring topic '{re.escape(unique_name)}[^']*': Kafka not ready", log), log
        assert re.search(rf"KafkaUnavailable.*topic '{re.escape(unique_name)}[^']*' for \d+ s", log), log
        assert "InvalidReplicationFactorError" in log, log
        assert took >= WAIT_S - 1, took
    finally:
        worker.stop()
        delete_topics(kafka_bootstrap, unique_name)
