"""The one settings object: read from the environment once (prefix CHARGESTREAM_).

Defaults point at the local services that ``python -m infra.local up`` starts, so a
fresh checkout runs with no configuration; production overrides them by env.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CQL_IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]{0,47}$"  # a keyspace name: it goes into DDL, never bound


class ConnectError(RuntimeError):
    """A configured service refused us or did not answer: the message names which and why
    (never a password)."""


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
    model_config = SettingsConfigDict(
        env_prefix="CHARGESTREAM_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    app_id: str = "chargestream"
    """Faust app id: the consumer group and the prefix of changelog topics."""
    group_instance_id: str | None = None
    """Static group membership (Kafka KIP-345): unique per worker, stable across its restarts
    (a StatefulSet's pod name). A restarted worker then takes its partitions back at once;
    unset, a restart is a rebalance (README, "Restarts")."""
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_timeout_seconds: float = Field(10.0, gt=0)
    """Timeout of every Kafka admin and client call we make ourselves."""
    kafka_startup_wait_seconds: float = Field(120.0, gt=0)
    """How long a starting worker tries to create a missing topic of Faust's (a changelog,
    when `migrate` did not) while Kafka cannot take it (a broker restarting beside it),
    before it exits with an error. Each try is bounded by what is left of this."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """Production: SASL_SSL. TLS always verifies the broker's certificate and host name."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    """A SecretStr: never in logs, errors, metrics or pages. Pass it by environment, not --set."""
    kafka_ssl_cafile: str | None = None
    """PEM bundle of the CAs that sign the brokers' certificates; unset: the system's."""
    topic_replication_factor: int = Field(1, ge=1)
    """For topics `migrate` creates."""
    topic_partitions: int = Field(8, ge=1)
    """Of every input and internal topic (all must match): the most workers that can share the load."""

    cassandra_contact_points: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1",)
    """Comma-separated hosts, or a JSON list."""
    cassandra_port: int = 9042
    cassandra_local_dc: str = "datacenter1"
    cassandra_username: str | None = None
    """With a password: PasswordAuthenticator login."""
    cassandra_password: SecretStr | None = None
    cassandra_ssl: bool = False
    """TLS to Cassandra, verifying the node's certificate and host name."""
    cassandra_ssl_cafile: str | None = None
    """PEM bundle of the CAs that sign the nodes' certificates; unset: the system's."""
    cassandra_keyspace: str = Field("chargestream", pattern=CQL_IDENTIFIER)
    """A CQL identifier (checked: keyspace names go into DDL, which cannot take bind markers)."""
    cassandra_timeout_seconds: float = Field(10.0, gt=0)
    """Per statement."""
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    """CQL replication map of a keyspace `migrate` creates; production: NetworkTopologyStrategy."""
    cassandra_max_in_flight: int = Field(256, ge=1)
    """Statements outstanding at once; more wait for a slot (backpressure, not a queue)."""
    cassandra_backoff_max_seconds: float = Field(10.0, gt=0)
    """A write that fails for want of Cassandra (timeout, unavailable, no host) is retried,
    backing off up to this, until Cassandra takes it: consumption waits, nothing is skipped."""
    timeseries_backend: Literal["cassandra", "memory"] = "cassandra"
    """`memory`: the in-memory twin of the Cassandra sink, for benchmarks only."""

    meter_topics: Annotated[tuple[str, ...], NoDecode] = (
        "ocpp.MeterValues",
        "ocpp.StartTransaction",
        "ocpp.StopTransaction",
        "ocpp.TransactionEvent",
    )
    """Input topics with meter data: envelopes keyed by charger id (schemas/envelope.v1.json)."""
    status_topics: Annotated[tuple[str, ...], NoDecode] = (
        "ocpp.StatusNotification",
        "ocpp.NotifyEvent",
        "ocpp.Heartbeat",
        "ocpp.BootNotification",
    )
    """Input topics with status and liveness; any valid input message proves a charger alive."""
    registry_topic: str = "chargestream.chargers.v1"
    """Compacted charger registry: site, connectors, heartbeat interval per charger."""
    alerts_topic: str = "chargestream.alerts.v1"
    site_power_topic: str = "chargestream.site.power.v1"
    site_availability_topic: str = "chargestream.site.availability.v1"
    site_status_topic: str = "chargestream.site.status.v1"
    connector_status_topic: str = "chargestream.connector.status.v1"
    connector_state_topic: str = "chargestream.connector.state.v1"
    port_uptime_topic: str = "chargestream.port.uptime.v1"
    site_contributions_topic: str = "chargestream.site.contributions.v1"
    """Internal: from stage 1 (per charger) to stage 2 (per site)."""
    ticks_topic: str = "chargestream.ticks.v1"
    """Internal: clock ticks, one per input partition (Faust timers cannot write tables)."""
    dead_letter_suffix: str = ".dlq"
    """Unusable input goes to `<input topic><suffix>` with its original bytes and a reason."""
    max_message_bytes: int = Field(256 * 1024, gt=0)
    """Larger input is dead-lettered as `oversized`."""

    fetch_wait_ms: int = Field(50, ge=0)
    """How long a fetch waits on the broker for 256 KiB: longer makes bigger batches under
    live traffic (less CPU per event), at up to this much latency per stage."""

    batch_max_records: int = Field(2000, gt=0)
    """Records per fetch, so per batch (one stream event; agents/consumer.py): enough to
    spread the per-batch costs thin, few enough that a batch takes a fraction of a second.
    Stage 1's batches merge what a partition's topics fetched, so they can be larger. At
    500 no CPU cost, a memory figure within the spread and one latency run with a p99 of
    4.2 s (bench/RESULTS.md, session 11)."""

    produce_linger_ms: int = Field(25, ge=0)
    """How long the worker's producer gathers records before a request (librdkafka's
    linger.ms): up to this much latency per stage, for fewer, larger requests to Kafka on
    a busy host (the latency benchmark's p99 was lower at 25 than at 5; bench/RESULTS.md)."""

    produce_stall_seconds: float = Field(60.0, gt=0)
    """How long a record out may wait for Kafka's acknowledgement before the worker's
    producer is replaced: a new librdkafka producer sends every record waiting again (those
    the old one did deliver come twice). librdkafka 2.16's idempotent producer was seen to
    deliver nothing after a broker restart until its records timed out
    (agents/output_producer.py)."""

    commit_interval_seconds: float = Field(2.8, gt=0)
    """How often offsets are committed, with the state that goes with them (Faust's
    broker_commit_interval). Each commit encodes every table value changed since the last
    one, so under live traffic a longer interval encodes each charger's state once for
    more of its messages; a crash reprocesses up to this much input (identical re-sends)."""
    standby_replicas: int = Field(0, ge=0)
    """Copies of each table partition other workers keep by reading its changelog (Faust's
    table_standby_replicas; Faust's default is 1, Kafka Streams' 0). They shorten no
    hand-over with this worker's stores (Faust 0.15.3's memory store keeps no offset: a
    partition that moves is read from its changelog's start either way) and cost CPU for
    every state change (two workers, in-memory sink: 250-284 against 174-214 CPU s per
    million events at 0). The hand-over fault test's failures at 0 (sessions 3 and 15) were
    the time-ordered merge's, not the copies' (bench/RESULTS.md, sessions 15 and 16)."""
    decoded_chargers: int = Field(10_000, ge=0)
    """Chargers whose state (meter series, statuses) stays decoded between their messages,
    the most recently read. The others are held encoded only, ~4x smaller (a filled meter
    state: 2.6 against 10.8 KB a connector, `python -m bench.steady_state`), and decoded
    again at their next message: memory bounded by this rather than by the fleet, for CPU
    (at 100,000 connectors, ~18 % more CPU per event than with all decoded; bench/RESULTS.md)."""
    heap_trim_seconds: float = Field(60.0, ge=0)
    """How often the worker gives freed heap back to the system (glibc's malloc_trim;
    agents/heap_trim.py), so that its RSS comes down after a backlog; 0: never."""
    trace_processing: bool = False
    """Log at info which input offsets each event settled, where each assignment reads from,
    and each status found out of order or availability change found late: a line per batch,
    to tell after a rebalance what a worker skipped, read twice or read in another order
    (`python -m bench.rebalance_stress` sets it and reads them)."""
    grace_seconds: float = Field(120.0, ge=0)
    """Late data within this corrects its bucket or window; must exceed the sample interval."""
    watermark_interval_seconds: float = Field(1.0, gt=0)
    """How often stage 1 reports its progress to stage 2."""
    site_power_publish_seconds: float = Field(0.25, ge=0)
    """The open site power buckets that changed are published at most this often (and
    before a bucket closes and at every commit): the current power's freshness against
    the worker's CPU under live traffic."""
    idle_partition_seconds: float = Field(10.0, gt=0)
    """A partition this quiet advances on the wall clock, so quiet sites still close."""

    heartbeat_interval_seconds: float = Field(300.0, gt=0)
    """Unless the charger registry says otherwise."""
    missed_heartbeats: int = Field(2, ge=1)
    """k: a charger is offline after k x heartbeat interval + grace of silence."""
    offline_grace_seconds: float = Field(30.0, ge=0)
    tick_interval_seconds: float = Field(1.0, gt=0)
    """How often silence is looked for and alerts advanced, with no new data needed."""
    alert_raise_after_seconds: float = Field(60.0, ge=0)
    """A condition must hold this long before its alert fires."""
    alert_clear_after_seconds: float = Field(120.0, ge=0)
    """... and be gone this long before it resolves (4x for a flapping alert)."""
    alert_renotify_seconds: float = Field(120.0, gt=0)
    """Firing alerts are re-sent to Alertmanager this often."""
    alertmanager_url: str | None = None
    """e.g. http://127.0.0.1:9093; unset: off."""
    alertmanager_timeout_seconds: float = Field(5.0, gt=0)

    availability_windows_seconds: Annotated[tuple[int, ...], NoDecode] = (60, 3600, 86400)
    """Event-time windows, ascending, each dividing a day; NEVI figures when the longest closes."""
    connector_availability_min_window_seconds: int = Field(3600, ge=1)
    """Per-connector availability rows for windows at least this long (sites get every window):
    a row per connector per minute would outweigh everything else written."""
    uptime_exclusions: Annotated[tuple[UptimeExclusion, ...], NoDecode] = ()
    """Outage not counted against uptime (NEVI T_excluded): a JSON list of
    `{"start", "end", "site_id"?, "charger_id"?, "reason"?}`; no site or charger: all."""
    uptime_unavailable_excluded: bool = True
    """Operator Unavailable time counts as planned maintenance (excluded)."""

    input_until_ms: int | None = None
    """Replays: input received after this time (epoch ms) is skipped (`chargestream replay` sets it)."""

    data_dir: str = "var/worker"
    """The worker's state directory (Faust tables and offsets), relative to the cwd."""
    store: str = "memory://"
    """Faust table store: `memory://`, in the heap; `spill://` (agents/spill_store.py), Faust's
    in-memory store with the values in a RocksDB of the worker's own, off the Python heap,
    created empty at each start (not the default: in the benchmark it saved no memory
    measurably and a ran slower at 100,000 connectors, not yet explained; bench/RESULTS.md).
    Either way the tables are rebuilt from their changelog topics on start (a `rocksdb://`
    store too: it is not told what was persisted)."""
    shutdown_timeout_seconds: float = Field(30.0, gt=0)
    """On SIGTERM the worker finishes the events in flight, flushes its producer and commits
    offsets; if that takes longer than this, it exits anyway (input since the last commit is
    then processed again after the restart, as after a crash)."""
    web_host: str = "127.0.0.1"
    """Where /metrics, /healthz and /readyz listen; 0.0.0.0 in a container."""
    web_port: int = 6066

    @property
    def kafka_tls(self) -> bool:
        return self.kafka_security_protocol.endswith("SSL")

    @property
    def kafka_sasl_login(self) -> tuple[str, str] | None:
        """(username, password) when the protocol is SASL_*, else None."""
        if not self.kafka_security_protocol.startswith("SASL_"):
            return None
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
        return self.kafka_sasl_username or "", password

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Settings:
        if (login := self.kafka_sasl_login) is not None and not all(login):
            raise ValueError("SASL needs kafka_sasl_username and kafka_sasl_password")
        if bool(self.cassandra_username) != bool(self.cassandra_password):
            raise ValueError("cassandra_username and cassandra_password go together")
        return self

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


def renamed_topics(
    s: Settings, rename: Callable[[str], str], *, inputs: bool = False, registry: bool = False
) -> dict[str, str]:
    """The CHARGESTREAM_* variables that give a run (demo, replay, benchmark) topics of its
    own: every output and internal topic renamed, and the inputs and registry if asked."""
    env = {}
    for name in Settings.model_fields:
        if name.endswith("_topic") and (registry or name != "registry_topic"):
            env[f"CHARGESTREAM_{name.upper()}"] = rename(getattr(s, name))
    if inputs:
        for name in ("meter_topics", "status_topics"):
            env[f"CHARGESTREAM_{name.upper()}"] = ",".join(rename(t) for t in getattr(s, name))
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
