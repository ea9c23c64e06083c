"""Prometheus metrics. Labels are bounded: topic (configured), reason and quirk codes
(fixed sets), never charger, site or message id."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter


class Metrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events = Counter(
            "chargestream_events",
            "Input messages by topic and outcome",
            ["topic", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "chargestream_dead_letters",
            "Messages sent to a dead-letter topic",
            ["topic", "reason"],
            registry=registry,
        )
        self.quirks = Counter(
            "chargestream_quirks", "Charger quirks normalised and kept", ["quirk"], registry=registry
        )
        self.readings = Counter(
            "chargestream_meter_readings", "Meter readings by fate", ["fate"], registry=registry
        )
        self.site_buckets = Counter(
            "chargestream_site_buckets", "Site power bucket revisions published", ["final"], registry=registry
        )
        self.alerts = Counter(
            "chargestream_alerts", "Alert state changes published", ["type", "status"], registry=registry
        )
        self.alertmanager_failures = Counter(
            "chargestream_alertmanager_failures",
            "Posts to Alertmanager that failed (re-sent later)",
            registry=registry,
        )
        self.status_changes = Counter(
            "chargestream_status_changes",
            "Connector status changes by fate: current, out_of_order (older than the current one, "
            "history only), late (after its availability windows closed)",
            ["fate"],
            registry=registry,
        )
        self.availability_windows = Counter(
            "chargestream_availability_windows",
            "Site availability windows closed, by window length in seconds",
            ["window_s"],
            registry=registry,
        )
        self.late_contributions = Counter(
            "chargestream_late_contributions", "Contributions for buckets already final", registry=registry
        )


metrics = Metrics()
