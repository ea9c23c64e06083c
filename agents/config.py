"""The one settings object: read from the environment once (prefix CHARGESTREAM_).

Defaults point at the local services that ``python -m infra.local up`` starts, so a
fresh checkout runs with no configuration; production overrides them by env.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class UptimeExclusion(BaseModel):
    """An interval of outage that does not count against uptime (utility, vandalism, ...)."""

    model_config = ConfigDict(frozen=True)
    start: datetime
    end: datetime
    site_id: str | None = None
    charger_id: str | None = None
    reason: str = "excluded"

    def applies_to(self, site_id: str, charger_id: str) -> bool:
        return self.site_id in (None, site_id) and self.charger_id in (None, charger_id)

    def interval_ms(self) -> tuple[int, int]:
        return int(self.start.timestamp() * 1000), int(self.end.timestamp() * 1000)


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
    site_availability_topic: str = "chargestream.site.availability.v1"  # closed windows per site
    site_status_topic: str = "chargestream.site.status.v1"  # compacted: ports per class now
    connector_status_topic: str = "chargestream.connector.status.v1"  # every status, in arrival order
    connector_state_topic: str = "chargestream.connector.state.v1"  # compacted: latest per charger
    port_uptime_topic: str = "chargestream.port.uptime.v1"  # compacted: NEVI figures per port/period
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
    # Availability windows (event time), ascending, each dividing a day; NEVI figures are
    # published when the longest closes.
    availability_windows_seconds: Annotated[tuple[int, ...], NoDecode] = (60, 3600, 86400)
    # Outages not counted against uptime (NEVI T_excluded): a JSON list of
    # {"start": ISO, "end": ISO, "site_id": ..., "charger_id": ..., "reason": ...}; an entry
    # without site_id and charger_id applies to every charger.
    uptime_exclusions: Annotated[tuple[UptimeExclusion, ...], NoDecode] = ()
    uptime_unavailable_excluded: bool = True  # operator Unavailable counts as planned maintenance
    alertmanager_url: str | None = None  # e.g. http://127.0.0.1:9093; off by default
    alertmanager_timeout_seconds: float = Field(5.0, gt=0)

    cassandra_max_in_flight: int = Field(256, ge=1)
    cassandra_retries: int = Field(5, ge=0)

    # Worker data directory (Faust's tables and offsets); relative to the cwd.
    data_dir: str = "var/worker"
    store: str = "memory://"
    web_port: int = 6066
    web_host: str = "127.0.0.1"

    @field_validator("availability_windows_seconds", mode="before")
    @classmethod
    def _split_ints(cls, value: Any) -> Any:
        return tuple(int(v) for v in cls._split_list(value))

    @field_validator("availability_windows_seconds")
    @classmethod
    def _windows_divide_a_day(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or list(value) != sorted(set(value)) or any(86400 % w for w in value):
            raise ValueError("availability windows must be ascending and each divide 86400 s")
        return value

    @field_validator("uptime_exclusions", mode="before")
    @classmethod
    def _parse_exclusions(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            return tuple(json.loads(value or "[]"))
        return value

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
