"""What a clock tick needs to know about one input partition's chargers, kept in memory so
that a tick decodes only the chargers it must look at (due for a liveness check, or with
an alert in flight), not every charger of the partition every second.

It is derived state: rebuilt from the changelogged charger-status table after a partition
is assigned, and updated whenever a charger's entry is written. The table stays the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .charger_status import ChargerStatus
from .liveness import LivenessRules


@dataclass(slots=True)
class PartitionIndex:
    deadlines: dict[bytes, int] = field(default_factory=dict)  # online: silence makes it offline then
    offline_since: dict[bytes, int] = field(default_factory=dict)  # offline: since when
    watch: set[bytes] = field(default_factory=set)  # alert state to advance (pending, firing, ...)

    def note(self, key: bytes, s: ChargerStatus, rules: LivenessRules) -> None:
        """The charger's entry was written: record what the next ticks need from it."""
        since = s.liveness.offline_since_ms
        if since is None:
            self.deadlines[key] = s.liveness.deadline_ms(rules)
            self.offline_since.pop(key, None)
        else:
            self.offline_since[key] = since
            self.deadlines.pop(key, None)
        if any(t.state.phase != "inactive" for t in s.alerts.values()):
            self.watch.add(key)
        else:
            self.watch.discard(key)

    @property
    def chargers(self) -> int:
        return len(self.deadlines) + len(self.offline_since)

    def to_look_at(self, now_ms: int) -> set[bytes]:
        """Chargers whose deadline has passed, and those with alerts in flight."""
        return {k for k, d in self.deadlines.items() if d <= now_ms} | self.watch

    def offline_after(self, since_ms: int) -> list[bytes]:
        return [k for k, t in self.offline_since.items() if t >= since_ms]
