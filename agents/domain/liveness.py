"""Charger liveness: any message proves a charger is alive; silence beyond
k x heartbeat interval + grace makes it offline. Checked by timers, not by arrivals,
so a silent charger is found with no new data coming in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LivenessRules:
    heartbeat_interval_s: float = 300.0  # when neither BootNotification nor the registry says
    missed_heartbeats: int = 2  # k
    grace_s: float = 30.0
    storm_share: float = 0.5  # this share of a partition's chargers silent at once ...
    storm_min_chargers: int = 10  # ... and at least this many: one ingestion alert instead

    def timeout_ms(self, interval_s: float | None) -> int:
        return int((self.missed_heartbeats * (interval_s or self.heartbeat_interval_s) + self.grace_s) * 1000)


@dataclass(slots=True, init=False)
class Liveness:
    """Own __init__: one is made per decoded charger status (see agents/domain/__init__.py)."""

    last_seen_ms: int  # received_at of the charger's newest message
    interval_s: float | None  # from BootNotification's answer or the registry
    offline_since_ms: int | None

    def __init__(
        self, last_seen_ms: int, interval_s: float | None = None, offline_since_ms: int | None = None
    ) -> None:
        self.last_seen_ms = last_seen_ms
        self.interval_s = interval_s
        self.offline_since_ms = offline_since_ms

    def seen(self, received_at_ms: int) -> int | None:
        """Record a message. Returns when the charger went offline if this brings it back."""
        was_offline = self.offline_since_ms
        self.last_seen_ms = max(self.last_seen_ms, received_at_ms)
        if was_offline is not None and received_at_ms >= was_offline:
            self.offline_since_ms = None
            return was_offline
        return None

    def deadline_ms(self, rules: LivenessRules) -> int:
        return self.last_seen_ms + rules.timeout_ms(self.interval_s)

    def check(self, now_ms: int, rules: LivenessRules) -> int | None:
        """At ``now_ms``: the moment the charger went offline, if that is news."""
        if self.offline_since_ms is None and now_ms >= self.deadline_ms(rules):
            self.offline_since_ms = self.deadline_ms(rules)
            return self.offline_since_ms
        return None


def is_storm(newly_offline: int, chargers: int, rules: LivenessRules) -> bool:
    """Many chargers of one partition going silent at once is our ingestion failing (the
    worker or the CSMS was down), not a field problem: page once, not thousands of times."""
    return newly_offline >= rules.storm_min_chargers and newly_offline >= rules.storm_share * chargers
