"""The one settings object: read from the environment once (prefix CHARGESTREAM_).

Defaults point at the local services that ``python -m infra.local up`` starts, so a
fresh checkout runs with no configuration; production overrides them by env.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGESTREAM_", frozen=True, extra="ignore")

    app_id: str = "chargestream"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_timeout_seconds: float = Field(10.0, gt=0)
    topic_replication_factor: int = Field(1, ge=1)
    topic_partitions: int = Field(8, ge=1)

    # "host1,host2" or a JSON list
    cassandra_contact_points: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1",)
    cassandra_port: int = 9042
    cassandra_local_dc: str = "datacenter1"
    cassandra_keyspace: str = "chargestream"
    cassandra_timeout_seconds: float = Field(10.0, gt=0)
    # CQL replication map for a keyspace `migrate` creates; production: NetworkTopologyStrategy
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

    # Topics (see schemas/README.md). Input topics carry envelopes keyed by charger id and
    # must all have topic_partitions partitions (the worker keeps per-charger state).
    meter_topics: Annotated[tuple[str, ...], NoDecode] = (
        "ocpp.MeterValues",
        "ocpp.StartTransaction",
        "ocpp.StopTransaction",
        "ocpp.TransactionEvent",
    )
    # Status-carrying topics; any valid message on any input topic also proves a charger alive.
    status_topics: Annotated[tuple[str, ...], NoDecode] = (
        "ocpp.StatusNotification",
        "ocpp.NotifyEvent",
        "ocpp.Heartbeat",
        "ocpp.BootNotification",
    )
    ticks_topic: str = "chargestream.ticks.v1"  # internal: clock ticks, one per input partition
    alerts_topic: str = "chargestream.alerts.v1"
    site_contributions_topic: str = "chargestream.site.contributions.v1"  # internal repartition
    site_power_topic: str = "chargestream.site.power.v1"
    registry_topic: str = "chargestream.chargers.v1"
    dead_letter_suffix: str = ".dlq"
    max_message_bytes: int = Field(256 * 1024, gt=0)

    # Event-time rules
    grace_seconds: float = Field(120.0, ge=0)  # late readings within this correct their bucket
    watermark_interval_seconds: float = Field(1.0, gt=0)  # how often stage 1 reports progress
    idle_partition_seconds: float = Field(10.0, gt=0)  # a partition this quiet advances on the clock

    timeseries_backend: Literal["cassandra", "memory"] = "cassandra"  # memory: benchmarks only
    # Liveness and alerts
    heartbeat_interval_seconds: float = Field(300.0, gt=0)  # unless the registry says otherwise
    missed_heartbeats: int = Field(2, ge=1)
    offline_grace_seconds: float = Field(30.0, ge=0)
    tick_interval_seconds: float = Field(1.0, gt=0)
    alert_raise_after_seconds: float = Field(60.0, ge=0)
    alert_clear_after_seconds: float = Field(120.0, ge=0)
    alert_renotify_seconds: float = Field(120.0, gt=0)
    alertmanager_url: str | None = None  # e.g. http://127.0.0.1:9093; off by default
    alertmanager_timeout_seconds: float = Field(5.0, gt=0)

    cassandra_max_in_flight: int = Field(256, ge=1)
    cassandra_retries: int = Field(5, ge=0)

    # Worker data directory (Faust's tables and offsets); relative to the cwd.
    data_dir: str = "var/worker"
    store: str = "memory://"
    web_port: int = 6066
    web_host: str = "127.0.0.1"

    @field_validator("cassandra_contact_points", "meter_topics", "status_topics", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return tuple(json.loads(text))
            return tuple(h.strip() for h in text.split(",") if h.strip())
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
