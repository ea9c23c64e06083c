"""Prometheus metrics. Labels are bounded: topic and partition (configured), reason, quirk,
table and alert type (fixed sets), and site id for the per-site gauges (the network's
sites, removed again when their partition moves to another worker); never charger or
message id."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily


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
            "From an input message's received_at to the end of its processing in stage 1"
            " (duplicate and dead-lettered meter messages not counted)",
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
        self.producer_replaced = Counter(
            "chargestream_producer_replaced",
            "Kafka producers replaced after stalling with records unacknowledged"
            " (CHARGESTREAM_PRODUCE_STALL_SECONDS); their records were sent again",
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
        self.sites = SiteGauges(registry)


STATUS_CLASSES = ("available", "occupied", "reserved", "unavailable", "faulted", "unknown")
_POWER, _OFFLINE = 0, 1  # then one value per status class, in STATUS_CLASSES' order


class SiteGauges:
    """The per-site gauges: a site's current power, its chargers offline and its ports per
    status class, as ``chargestream_site_power_watts``, ``chargestream_site_chargers_offline``
    and ``chargestream_site_connectors``. Kept as one row of values per site and exposed by a
    custom collector at each scrape: as prometheus_client children (eight a site, ~650 bytes
    each with their lock and value) they were ~5 KB a site, ~40 MB of a worker's heap at
    100,000 connectors (bench/RESULTS.md). A value never set is not exposed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._rows: dict[str, list[float | None]] = {}
        self._partition: dict[str, int] = {}  # the stage-2 partition a site's values come from
        registry.register(self)

    def _row(self, site_id: str) -> list[float | None]:
        row = self._rows.get(site_id)
        if row is None:
            row = self._rows[site_id] = [None] * (2 + len(STATUS_CLASSES))
        return row

    def set_power(self, site_id: str, watts: float) -> None:
        self._row(site_id)[_POWER] = watts

    def set_status(self, site_id: str, partition: int, ports: Mapping[str, int], offline: int) -> None:
        """Ports per status class (``STATUS_CLASSES``; those not given keep their value)."""
        self._partition[site_id] = partition
        row = self._row(site_id)
        row[_OFFLINE] = offline
        for i, cls in enumerate(STATUS_CLASSES, start=2):
            if cls in ports:
                row[i] = ports[cls]

    def forget_partitions(self, partitions: set[int]) -> None:
        """Another worker owns these stage-2 partitions now: their sites' gauges are not ours."""
        for site, partition in list(self._partition.items()):
            if partition in partitions:
                del self._partition[site]
                self._rows.pop(site, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = list(self._rows.items())  # scraped from another thread: one atomic copy
        power = GaugeMetricFamily(
            "chargestream_site_power_watts", "A site's current power (newest bucket)", labels=["site_id"]
        )
        offline = GaugeMetricFamily(
            "chargestream_site_chargers_offline", "A site's chargers offline now", labels=["site_id"]
        )
        ports = GaugeMetricFamily(
            "chargestream_site_connectors",
            "A site's ports per status class now",
            labels=["site_id", "status"],
        )
        for site, (watts, chargers_offline, *by_class) in rows:
            if watts is not None:
                power.add_metric([site], watts)
            if chargers_offline is not None:
                offline.add_metric([site], chargers_offline)
            for cls, value in zip(STATUS_CLASSES, by_class, strict=True):
                if value is not None:
                    ports.add_metric([site, cls], value)
        yield power
        yield offline
        yield ports


metrics = Metrics()
