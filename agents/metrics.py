"""Prometheus metrics. Labels are bounded: topic and partition (configured), reason, quirk,
table and alert type (fixed sets), and site id for the per-site gauges (the network's
sites, removed again when their partition moves to another worker); never charger or
message id."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class _Kept:
    """``labels`` with the children kept: prometheus_client takes a lock and checks every
    label value on each call (~1.5 us), and a worker counts several per input event (py-spy:
    ~4 % of the worker). Only for metrics whose children are never removed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[tuple[Any, ...], Any] = {}

    def labels(self, *values: Any, **by_name: Any) -> Any:
        if by_name:  # not kept: every call site here passes values in order
            return super().labels(*values, **by_name)  # type: ignore[misc]
        child = self._kept.get(values)
        if child is None:
            child = self._kept[values] = super().labels(*values)  # type: ignore[misc]
        return child


class KeptCounter(_Kept, Counter):
    pass


class KeptHistogram(_Kept, Histogram):
    pass


class KeptGauge(_Kept, Gauge):
    pass


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events = KeptCounter(
            "chargestream_events",
            "Input messages by topic and outcome",
            ["topic", "outcome"],
            registry=registry,
        )
        self.dead_letters = KeptCounter(
            "chargestream_dead_letters",
            "Messages sent to a dead-letter topic",
            ["topic", "reason"],
            registry=registry,
        )
        self.quirks = KeptCounter(
            "chargestream_quirks", "Charger quirks normalised and kept", ["quirk"], registry=registry
        )
        self.readings = KeptCounter(
            "chargestream_meter_readings", "Meter readings by fate", ["fate"], registry=registry
        )
        self.site_buckets = KeptCounter(
            "chargestream_site_buckets", "Site power bucket revisions published", ["final"], registry=registry
        )
        self.alerts = KeptCounter(
            "chargestream_alerts", "Alert state changes published", ["type", "status"], registry=registry
        )
        self.alertmanager_failures = Counter(
            "chargestream_alertmanager_failures",
            "Posts to Alertmanager that failed (re-sent later)",
            registry=registry,
        )
        self.status_changes = KeptCounter(
            "chargestream_status_changes",
            "Connector status changes by fate: current, out_of_order (older than the current one, "
            "history only), late (after its availability windows closed)",
            ["fate"],
            registry=registry,
        )
        self.availability_windows = KeptCounter(
            "chargestream_availability_windows",
            "Site availability windows closed, by window length in seconds",
            ["window_s"],
            registry=registry,
        )
        self.late_contributions = Counter(
            "chargestream_late_contributions", "Contributions for buckets already final", registry=registry
        )
        self.records_out = KeptCounter(
            "chargestream_records_out",
            "Records sent to output and internal topics",
            ["topic"],
            registry=registry,
        )
        self.processing = KeptHistogram(
            "chargestream_processing_seconds",
            "Time to process one input record, by stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.event_latency = Histogram(
            "chargestream_event_latency_seconds",
            "From an input message's received_at to the end of its processing in stage 1",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commit_pause = Histogram(
            "chargestream_commit_pause_seconds",
            "How long events wait while a commit takes the state (open site buckets'"
            " revisions made, changed table values taken; they are encoded after it, events"
            " going on): a pause of the whole worker at every commit",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commit_send = Histogram(
            "chargestream_commit_send_seconds",
            "From a commit's taking of the state to that state in Kafka (values encoded,"
            " outputs landed, changelog records acknowledged); its offsets are committed next",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "chargestream_consumer_lag",
            "Records behind the partition's high watermark, per assigned input partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.cassandra_write = KeptHistogram(
            "chargestream_cassandra_write_seconds",
            "Cassandra write latency, including retries",
            ["table"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.cassandra_statements = Histogram(
            "chargestream_cassandra_request_statements",
            "Statements per Cassandra request (rows grouped by replica, at most 16): low"
            " under a backlog means each row pays a request of its own",
            buckets=(1, 2, 4, 8, 12, 16),
            registry=registry,
        )
        self.cassandra_errors = KeptCounter(
            "chargestream_cassandra_write_errors",
            "Cassandra write attempts that failed (outages are retried until the write succeeds)",
            ["table", "error"],
            registry=registry,
        )
        self.alerts_active = KeptGauge(
            "chargestream_alerts_active",
            "Alerts firing, per type and input partition of this worker",
            ["type", "partition"],
            registry=registry,
        )
        self.site_power = Gauge(
            "chargestream_site_power_watts",
            "A site's current power (newest bucket)",
            ["site_id"],
            registry=registry,
        )
        self.site_connectors = Gauge(
            "chargestream_site_connectors",
            "A site's ports per status class now",
            ["site_id", "status"],
            registry=registry,
        )
        self.site_offline = Gauge(
            "chargestream_site_chargers_offline",
            "A site's chargers offline now",
            ["site_id"],
            registry=registry,
        )
        self._site_partition: dict[str, int] = {}

    def site_seen(self, site_id: str, partition: int) -> None:
        """Remember where a site's gauges come from, to remove them when that partition leaves."""
        self._site_partition[site_id] = partition

    def forget_partitions(self, partitions: set[int]) -> None:
        """Another worker owns these stage-2 partitions now: their sites' gauges are not ours."""
        for site, partition in list(self._site_partition.items()):
            if partition not in partitions:
                continue
            del self._site_partition[site]
            for gauge in (self.site_power, self.site_offline):
                with suppress(KeyError):
                    gauge.remove(site)
            for status in STATUS_CLASSES:
                with suppress(KeyError):
                    self.site_connectors.remove(site, status)


STATUS_CLASSES = ("available", "occupied", "reserved", "unavailable", "faulted", "unknown")
metrics = Metrics()
