"""The tick's index: due chargers, alerts in flight, offline counts."""

from __future__ import annotations

from agents.domain.alerts import AlertRules
from agents.domain.charger_status import mark_offline, new_status, newly_offline
from agents.domain.liveness import LivenessRules
from agents.domain.partition_index import PartitionIndex

T0 = 1_795_521_600_000
LIVE = LivenessRules(heartbeat_interval_s=30, missed_heartbeats=2, grace_s=10)  # offline after 70 s


def test_only_due_and_alerting_chargers_are_looked_at() -> None:
    idx = PartitionIndex()
    quiet, silent = new_status("S", T0, None), new_status("S", T0 - 60_000, None)
    idx.note(b"quiet", quiet, LIVE)
    idx.note(b"silent", silent, LIVE)
    assert idx.to_look_at(T0 + 20_000) == {b"silent"} and idx.chargers == 2
    since = newly_offline(silent, T0 + 20_000, LIVE)
    assert since is not None
    mark_offline(silent, "silent", since, AlertRules())
    idx.note(b"silent", silent, LIVE)
    assert idx.watch == {b"silent"} and idx.offline_after(T0) == [b"silent"]
    assert idx.to_look_at(T0 + 20_000) == {b"silent"}  # its pending alert still needs ticks
    assert idx.chargers == 2
