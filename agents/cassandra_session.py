"""Connecting to Cassandra from settings: the one place that knows the driver's knobs."""

from __future__ import annotations

from typing import Any

from .config import ConnectError, Settings


def connect(settings: Settings) -> tuple[Any, Any]:
    """(cluster, session) with a DC-aware policy and the configured timeouts."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        request_timeout=settings.cassandra_timeout_seconds,
    )
    secure: dict[str, Any] = {}
    if settings.cassandra_username and settings.cassandra_password:
        from cassandra.auth import PlainTextAuthProvider

        password = settings.cassandra_password.get_secret_value()
        secure["auth_provider"] = PlainTextAuthProvider(settings.cassandra_username, password)
    if settings.cassandra_ssl:
        from .kafka_clients import ssl_context

        # check_hostname is on: the driver verifies each node against its own address.
        secure["ssl_context"] = ssl_context(settings.cassandra_ssl_cafile)
    cluster = Cluster(
        list(settings.cassandra_contact_points),
        port=settings.cassandra_port,
        # Not 5: its checksummed frame segments are built and checked in Python (CRC24 and
        # CRC32 per segment), ~12 % of the worker's CPU with every sink on (py-spy).
        protocol_version=4,
        connect_timeout=settings.cassandra_timeout_seconds,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        **secure,
    )
    try:
        return cluster, cluster.connect()
    except Exception as exc:  # NoHostAvailable wraps each host's reason (auth, TLS, refused)
        cluster.shutdown()
        hosts = ",".join(settings.cassandra_contact_points)
        reasons = getattr(exc, "errors", None) or exc
        raise ConnectError(f"Cassandra at {hosts} port {settings.cassandra_port}: {reasons}") from exc
