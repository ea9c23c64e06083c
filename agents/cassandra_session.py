"""Connecting to Cassandra from settings: the one place that knows the driver's knobs."""

from __future__ import annotations

from typing import Any

from .config import Settings


def connect(settings: Settings) -> tuple[Any, Any]:
    """(cluster, session) with a DC-aware policy and the configured timeouts."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        request_timeout=settings.cassandra_timeout_seconds,
    )
    cluster = Cluster(
        list(settings.cassandra_contact_points),
        port=settings.cassandra_port,
        protocol_version=5,
        connect_timeout=settings.cassandra_timeout_seconds,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    return cluster, cluster.connect()
