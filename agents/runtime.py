"""What the agents share inside one worker process, built once on first use."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from .config import Settings, get_settings
from .domain.alerts import AlertRules
from .domain.buckets import BucketRules
from .domain.liveness import LivenessRules
from .kafka_clients import confluent_config
from .registry import ChargerRegistry, RegistryReader
from .sinks.alertmanager import Alertmanager, AlertReceiver, NoAlertmanager
from .sinks.timeseries import CassandraStore, MemoryStore, TimeSeriesStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    rules: BucketRules
    store: TimeSeriesStore
    registry: ChargerRegistry
    alert_rules: AlertRules
    live_rules: LivenessRules
    alertmanager: AlertReceiver
    cluster: Any = None


_runtime: Runtime | None = None
_lock = asyncio.Lock()


async def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one per worker process, created lazily inside its loop
    if _runtime is None:
        async with _lock:
            if _runtime is None:
                _runtime = await asyncio.get_running_loop().run_in_executor(None, _build, get_settings())
    return _runtime


def built() -> Runtime | None:
    """The runtime if some agent has built it already (no connecting as a side effect)."""
    return _runtime


def _build(s: Settings) -> Runtime:
    from .domain.power import PowerRules

    rules = BucketRules(grace_ms=int(s.grace_seconds * 1000), power=PowerRules())
    alert_rules = AlertRules(
        raise_after_ms=int(s.alert_raise_after_seconds * 1000),
        clear_after_ms=int(s.alert_clear_after_seconds * 1000),
        renotify_ms=int(s.alert_renotify_seconds * 1000),
    )
    live_rules = LivenessRules(
        heartbeat_interval_s=s.heartbeat_interval_seconds,
        missed_heartbeats=s.missed_heartbeats,
        grace_s=s.offline_grace_seconds,
    )
    alertmanager: AlertReceiver = (
        Alertmanager(s.alertmanager_url, s.alertmanager_timeout_seconds)
        if s.alertmanager_url
        else NoAlertmanager()
    )
    registry = ChargerRegistry()
    reader = RegistryReader(registry, confluent_config(s), s.registry_topic, s.kafka_timeout_seconds)
    reader.start()
    # Processing before the registry is read would put chargers under "unassigned" for good.
    while not reader.caught_up.wait(s.kafka_timeout_seconds):
        log.warning("waiting for the charger registry (%s) to be read", s.registry_topic)
    store: TimeSeriesStore
    cluster = None
    if s.timeseries_backend == "memory":
        store = MemoryStore()
    else:
        from .cassandra_session import connect

        cluster, session = connect(s)
        store = CassandraStore(
            session,
            s.cassandra_keyspace,
            max_in_flight=s.cassandra_max_in_flight,
            backoff_max_s=s.cassandra_backoff_max_seconds,
            timeout_s=s.cassandra_timeout_seconds,
        )
    return Runtime(s, rules, store, registry, alert_rules, live_rules, alertmanager, cluster)
