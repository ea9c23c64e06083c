"""Fixtures that own the test infrastructure.

Every service is real. By default the local services are started (or reused) through
``infra.local``; set CHARGESTREAM_KAFKA_BOOTSTRAP or CHARGESTREAM_CASSANDRA_CONTACT_POINTS
to test against existing ones instead. A service that cannot be reached is an error,
never a skip. Each test gets its own topic names, keyspace and scrape target, removed
afterwards.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.config import Settings
from infra.local import LocalSettings, up

EXTERNAL_KAFKA = os.environ.get("CHARGESTREAM_KAFKA_BOOTSTRAP")
EXTERNAL_CASSANDRA = os.environ.get("CHARGESTREAM_CASSANDRA_CONTACT_POINTS")
ADMIN_TIMEOUT_SECONDS = 30


def _unique(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:24].strip("_")
    return f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def local_settings() -> LocalSettings:
    return LocalSettings()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_settings: LocalSettings) -> str:
    if EXTERNAL_KAFKA:
        return EXTERNAL_KAFKA
    up(local_settings, ["kafka"], report=False)
    return local_settings.kafka_bootstrap


@pytest.fixture(scope="session")
def cassandra_contact(local_settings: LocalSettings) -> tuple[list[str], int]:
    if EXTERNAL_CASSANDRA:
        settings = Settings()
        return list(settings.cassandra_contact_points), settings.cassandra_port
    up(local_settings, ["cassandra"], report=False)
    return ["127.0.0.1"], local_settings.cassandra_port


@pytest.fixture(scope="session")
def prometheus_url(local_settings: LocalSettings) -> str:
    up(local_settings, ["prometheus"], report=False)
    return local_settings.prometheus_url


@pytest.fixture(scope="session")
def alertmanager_url(local_settings: LocalSettings) -> str:
    up(local_settings, ["alertmanager"], report=False)
    return local_settings.alertmanager_url


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or earlier run) uses: for topics, groups, keyspaces."""
    return _unique(request)


@pytest.fixture
def kafka_topics(kafka_bootstrap: str, unique_name: str) -> Iterator[Callable[..., str]]:
    """Factory: ``create("ocpp.metervalues", partitions=4)`` -> a fresh topic's full name."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def create(suffix: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"{unique_name}.{suffix}"
        futures = admin.create_topics(
            [NewTopic(name, partitions, 1, config=config or {})], operation_timeout=ADMIN_TIMEOUT_SECONDS
        )
        futures[name].result(timeout=ADMIN_TIMEOUT_SECONDS)
        created.append(name)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created, operation_timeout=ADMIN_TIMEOUT_SECONDS).values():
            future.result(timeout=ADMIN_TIMEOUT_SECONDS)


@pytest.fixture(scope="session")
def cassandra_session(cassandra_contact: tuple[list[str], int]) -> Iterator[Any]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy

    hosts, port = cassandra_contact
    # Schema changes (CREATE/DROP KEYSPACE) on a busy 2-core node can take seconds.
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"), request_timeout=30
    )
    cluster = Cluster(
        hosts,
        port=port,
        connect_timeout=10,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    session = cluster.connect()
    yield session
    cluster.shutdown()


@pytest.fixture
def keyspace(cassandra_session: Any, unique_name: str) -> Iterator[str]:
    """A fresh keyspace for this test, dropped afterwards."""
    cassandra_session.execute(
        f"CREATE KEYSPACE {unique_name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    yield unique_name
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {unique_name}")


@pytest.fixture
def prometheus_target(
    local_settings: LocalSettings, prometheus_url: str, unique_name: str
) -> Iterator[Callable[[str], dict[str, str]]]:
    """Factory: ``add("127.0.0.1:PORT")`` makes the local Prometheus scrape it.

    Returns the labels the target carries, for use in PromQL selectors.
    """
    path: Path = local_settings.prometheus_targets_dir / f"{unique_name}.json"

    def add(address: str) -> dict[str, str]:
        labels = {"test": unique_name}
        tmp = path.with_suffix(".tmp")  # Prometheus must never read a half-written file
        tmp.write_text(json.dumps([{"targets": [address], "labels": labels}]))
        tmp.rename(path)
        return labels

    yield add
    path.unlink(missing_ok=True)
