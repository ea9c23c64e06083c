"""`python -m agents.migrate`: create the topics and apply the CQL migrations. Idempotent.

Topics get the configured partition count (input topics and the internal repartition
topic must share it); the registry topic is compacted. CQL files in
infra/cassandra/migrations run in name order, each once, recorded in schema_migrations.

The topics Faust would create at the worker's first start are created here too: the
tables' changelog topics and its leader topic. Created by the worker, they raced its first
rebalance: with the broker stopped for 8 s while a new worker started, the CreateTopics
requests were answered after the metadata the group's assignment was made from, the
assignment left four changelog topics out, and every event then failed on the tables
(Faust's ``PartitionsMismatch``, "0 partitions") and was dead-lettered, until a metadata
refresh minutes later (1 run in 3, 2026-12-07).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from .cassandra_session import connect
from .config import CQL_IDENTIFIER, ConnectError, Settings, get_settings
from .kafka_clients import confluent_config

# The worker's tables (agents/topics.py; tests/unit/test_migrate_topics.py keeps the two
# in step).
TABLES = ("charger-state", "input-watermarks", "charger-status", "site-state", "site-watermarks")


def topic_specs(s: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """name -> (partitions, config) for every topic chargestream reads or writes."""
    n = s.topic_partitions
    specs: dict[str, tuple[int, dict[str, str]]] = {}
    for topic in (*s.meter_topics, *s.status_topics):
        specs[topic] = (n, {})
        specs[topic + s.dead_letter_suffix] = (n, {"retention.ms": str(30 * 86_400_000)})
    specs[s.site_contributions_topic] = (n, {"retention.ms": str(86_400_000)})
    specs[s.site_power_topic] = (n, {})
    specs[s.registry_topic] = (n, {"cleanup.policy": "compact"})
    specs[s.ticks_topic] = (n, {"retention.ms": str(3_600_000)})
    compacted = {"cleanup.policy": "compact"}
    specs[s.alerts_topic] = (n, compacted)
    specs[s.site_availability_topic] = (n, {})
    specs[s.site_status_topic] = (n, compacted)
    specs[s.connector_status_topic] = (n, {})
    specs[s.connector_state_topic] = (n, compacted)
    specs[s.port_uptime_topic] = (n, compacted)
    for table in TABLES:  # named as Faust names them
        specs[f"{s.app_id}-{table}-changelog"] = (n, compacted)
    specs[f"{s.app_id}-__assignor-__leader"] = (1, {})
    return specs


def create_topics(s: Settings) -> list[str]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(confluent_config(s))
    try:
        existing = set(admin.list_topics(timeout=s.kafka_timeout_seconds).topics)
    except KafkaException as exc:
        raise ConnectError(f"Kafka at {s.kafka_bootstrap}: {exc.args[0]}") from exc
    wanted = [
        NewTopic(name, parts, s.topic_replication_factor, config=cfg)
        for name, (parts, cfg) in topic_specs(s).items()
        if name not in existing
    ]
    if not wanted:
        return []
    futures = admin.create_topics(wanted, operation_timeout=s.kafka_timeout_seconds)
    for name, future in futures.items():
        try:
            future.result(timeout=s.kafka_timeout_seconds * 2)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):  # another process won the race
                raise RuntimeError(f"creating topic {name}: {exc}") from exc
    return sorted(futures)


def migrations() -> list[tuple[str, str]]:
    folder = resources.files("infra.cassandra").joinpath("migrations")
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".cql"))


def statements(cql: str) -> list[str]:
    """Split a migration into statements: ';' at a line end ends one; '--' comments dropped."""
    body = "\n".join(re.sub(r"--.*$", "", line) for line in cql.splitlines())
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]


def apply_migrations(session: Any, keyspace: str, replication: str) -> list[str]:
    if not re.fullmatch(CQL_IDENTIFIER, keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r}")
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations "
        "(name text PRIMARY KEY, applied_at timestamp)"
    )
    done = {row.name for row in session.execute(f"SELECT name FROM {keyspace}.schema_migrations")}
    insert = session.prepare(f"INSERT INTO {keyspace}.schema_migrations (name, applied_at) VALUES (?, ?)")
    applied = []
    for name, cql in migrations():
        if name in done:
            continue
        for statement in statements(cql):
            session.execute(statement.replace("{keyspace}", keyspace))
        session.execute(insert, (name, datetime.now(UTC)))
        applied.append(name)
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.migrate", description=__doc__)
    parser.add_argument("--keyspace", help="override CHARGESTREAM_CASSANDRA_KEYSPACE")
    parser.add_argument("--skip-topics", action="store_true")
    args = parser.parse_args(argv)
    s = get_settings()
    keyspace = args.keyspace or s.cassandra_keyspace
    if not args.skip_topics:
        created = create_topics(s)
        print(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ""))
    cluster, session = connect(s)
    try:
        applied = apply_migrations(session, keyspace, s.cassandra_replication)
    finally:
        cluster.shutdown()
    print(f"keyspace {keyspace}: {len(applied)} migration(s) applied {applied}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
