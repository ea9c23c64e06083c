"""Stage 1, status: liveness from every message, connector status and faults, and the
clock ticks that find silence and turn alert conditions into notices."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import orjson

from agents import codec, records
from agents.app import app
from agents.domain.alerts import AlertKey, AlertRules, AlertType, alertmanager_payload, observe
from agents.domain.charger_status import (
    ChargerStatus,
    TrackedAlert,
    due_notices,
    mark_offline,
    new_status,
    newly_offline,
    on_fault,
    on_message,
    on_status,
    withdraw_offline,
)
from agents.domain.envelope import Envelope
from agents.domain.liveness import is_storm
from agents.domain.partition_index import PartitionIndex
from agents.domain.site_timeline import Change
from agents.domain.status import fault_events, status_events
from agents.metrics import metrics
from agents.registry import UNASSIGNED_SITE
from agents.runtime import Runtime, runtime
from agents.streams.meter import assigned_input_partitions, partition_heard, partition_watermark, recall
from agents.streams.stage2_outbox import to_stage2
from agents.topics import (
    alerts,
    charger_statuses,
    connector_state,
    connector_status,
    emit,
    settings,
    ticks,
)

log = logging.getLogger(__name__)
STATUS_ACTIONS = frozenset({"StatusNotification", "NotifyEvent", "Heartbeat", "BootNotification"})
INGESTION_KEY = b"__ingestion__/"  # per-partition entry holding the ingestion-stalled alert


async def handle_status(env: Envelope, partition: int) -> Exception | None:
    """Every valid message: the charger is alive; status messages also change connectors.
    Returns the exception if our domain code failed on this input (the caller dead-letters
    it); the table is then left as it was."""
    rt = await runtime()
    key = env.charger_id.encode()
    s = charger_statuses.get(key)
    if s is None:
        info = rt.registry.get(env.charger_id)
        site = env.site_id or (info.site_id if info else UNASSIGNED_SITE)
        s = new_status(site, env.received_at_ms, info.heartbeat_interval_s if info else None)
    s.partition = partition
    try:
        out = _apply(s, env, rt.alert_rules)
        notices = due_notices(s, _now_ms(), rt.alert_rules)
    except Exception as exc:  # a bug of ours met this input
        log.exception("status of %s %s from %s failed", env.ocpp_version, env.action, env.charger_id)
        return exc
    charger_statuses.set(key, s)
    if (idx := _indexes.get(partition)) is not None:
        idx.note(key, s, rt.live_rules)
    await out.send(rt)
    await publish(rt, notices)
    return None


def _apply(s: ChargerStatus, env: Envelope, rules: AlertRules) -> _Outbox:
    """The domain steps of one message, collected in an outbox (no I/O)."""
    out = _Outbox(s, env.charger_id)
    if on_message(s, env.charger_id, env.received_at_ms, rules):
        out.liveness(env.received_at_ms, offline=False)
    for e in status_events(env):
        current = on_status(s, e, rules)
        metrics.status_changes.labels("current" if current else "out_of_order").inc()
        if not current and settings.trace_processing:
            log.info("status out of order: %s %d/%d at %d", e.charger_id, e.evse_id, e.connector_id, e.ts_ms)
        out.history.append(records.connector_status_record(s.site_id, e, env.received_at_ms, current))
        out.classes(e.ts_ms, e.evse_id, e.connector_id, changed=current)
    for f in fault_events(env):
        changed = on_fault(s, f, rules)
        out.classes(f.ts_ms, f.evse_id, f.connector_id, changed=changed)
    return out


class _Outbox:
    """What one charger's update tells the rest: status history, changes for its site's
    availability (stage 2), and its latest connector state when that changed: the whole
    charger's on its topic, and the rows of the connectors it changed in Cassandra (each
    row depends only on its connector and the charger's liveness; every row of the charger
    at each status was ~1.4 rows a status message instead of ~1.0 on the benchmark's
    input, where connector_state was a third of the worker's statements)."""

    def __init__(self, s: ChargerStatus, charger_id: str) -> None:
        self.s, self.charger_id = s, charger_id
        self.history: list[dict[str, Any]] = []
        self.changes: list[Change] = []
        self.changed_rows: set[tuple[int, int]] | None = set()  # (evse, connector); None: all

    @property
    def state_changed(self) -> bool:
        return self.changed_rows is None or bool(self.changed_rows)

    def state_rows(self, state: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The connector_state rows this update rewrites, from the charger's state record."""
        return records.connector_state_rows(state, self.changed_rows) if self.state_changed else []

    def liveness(self, ts_ms: int, *, offline: bool) -> None:
        self.changes.append(Change(self.s.site_id, self.charger_id, ts_ms, offline=offline))
        self.changed_rows = None  # online or not is in every row

    def classes(self, ts_ms: int, evse: int, connector: int, *, changed: bool) -> None:
        """Stage 2 places each class at its own time: the connector's class from this fact
        on (and at any later fact it changes the meaning of)."""
        for t, cls in self.s.connector(evse, connector).classes_from(ts_ms):
            self.changes.append(Change(self.s.site_id, self.charger_id, t, f"{evse}/{connector}", cls))
        if changed and self.changed_rows is not None:
            self.changed_rows.add((evse, connector))

    async def send(self, rt: Runtime) -> None:
        key = self.charger_id.encode()
        for r in self.history:
            await emit(connector_status, key=key, value=orjson.dumps(r))
        for c in self.changes:
            to_stage2(c)
        if self.history:
            await rt.store.write_rows(
                "connector_status_history", [records.connector_status_row(r) for r in self.history]
            )
        if self.state_changed:
            # Stamped on the central system's clock, which only moves forward for a charger
            # (its own clock may lie by minutes): newest received_at, or when silence became
            # offline. The connector_state rows take it as their write timestamp.
            live = self.s.liveness
            known_at = max(live.last_seen_ms, live.offline_since_ms or 0)
            state = records.connector_state_record(self.charger_id, self.s, known_at)
            await emit(connector_state, key=key, value=orjson.dumps(state))
            await rt.store.write_rows("connector_state", self.state_rows(state))


async def on_tick(partition: int, now_ms: int) -> None:
    """Find chargers of this partition gone silent; send what alerts are due."""
    rt = await runtime()
    recall(partition)
    if not partition_heard(partition):
        return
    idx = _indexes.get(partition) or _build_index(partition, rt)
    # While the partition is read behind the clock (a backlog after downtime), silence is
    # judged at the partition's own progress, not at wall-clock time.
    idle_ms = int(settings.idle_partition_seconds * 1000)
    now_eff = min(now_ms, partition_watermark(partition, now_ms) + idle_ms)
    chargers: dict[bytes, ChargerStatus] = {}
    for key in idx.to_look_at(now_eff):
        s = charger_statuses.get(key)
        if s is not None and s.partition == partition:
            chargers[key] = s
    silent = [
        (k, s, since)
        for k, s in chargers.items()
        if (since := newly_offline(s, now_eff, rt.live_rules)) is not None
    ]
    for key, s, _ in silent:
        idx.note(key, s, rt.live_rules)
    # A storm's chargers go silent together but may pass their deadlines on different
    # ticks: count all gone offline within the raise-after time (their alerts have not
    # fired yet), and withdraw those alerts once it is plainly a storm.
    window_ms = max(rt.alert_rules.raise_after_ms, int(2000 * settings.tick_interval_seconds))
    recent = idx.offline_after(now_eff - window_ms)
    storm = is_storm(len(recent), idx.chargers, rt.live_rules)
    notices = await _ingestion(rt, partition, idx, storm, now_ms)
    changed = {k for k, _, _ in silent}
    for key, s, since in silent:
        if not storm:  # a storm is our ingestion failing: one alert above, not thousands
            mark_offline(s, key.decode(), since, rt.alert_rules)
    if storm:
        changed.update(k for k in recent if k in chargers and withdraw_offline(chargers[k], k.decode()))
    for key, s in chargers.items():
        due = due_notices(s, now_ms, rt.alert_rules)
        if due or key in changed:
            notices += due
            charger_statuses.set(key, s)
        idx.note(key, s, rt.live_rules)
    firing: Counter[str] = Counter(
        t.key.type.value
        for s in chargers.values()
        for t in s.alerts.values()
        if t.state.phase in ("firing", "clearing")
    )
    for kind in (AlertType.CONNECTOR_FAULT, AlertType.CONNECTOR_WARNING, AlertType.CHARGER_OFFLINE):
        metrics.alerts_active.labels(kind.value, str(partition)).set(firing[kind.value])
    for key, s, since in silent:  # in a storm too: its connectors' state is unknown all the same
        out = _Outbox(s, key.decode())
        out.liveness(since, offline=True)
        await out.send(rt)
    await publish(rt, notices)


# In-memory tick indexes per input partition (agents/domain/partition_index.py).
_indexes: dict[int, PartitionIndex] = {}


def _build_index(partition: int, rt: Runtime) -> PartitionIndex:
    """After an assignment: one scan of the table for the chargers of this partition and of
    every other assigned one not indexed yet. The scan decodes every charger not kept
    decoded; one per partition was ~4 % of a worker's CPU after a backlog (py-spy,
    bench/RESULTS.md). The tables are recovered before any event, so each index is whole."""
    fresh = {p: PartitionIndex() for p in {partition, *assigned_input_partitions()} if p not in _indexes}
    for key in charger_statuses.known_keys():
        if key.startswith(INGESTION_KEY):
            continue
        s = charger_statuses.peek(key)
        if s is not None and (idx := fresh.get(s.partition)) is not None:
            idx.note(key, s, rt.live_rules)
    _indexes.update(fresh)
    return _indexes[partition]


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def _drop_indexes(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A partition that leaves may come back changed by another worker: rebuild then."""
    _indexes.clear()


async def _ingestion(
    rt: Runtime, partition: int, idx: PartitionIndex, storm: bool, now_ms: int
) -> list[tuple[TrackedAlert, Any]]:
    key = INGESTION_KEY + str(partition).encode()
    entry = charger_statuses.get(key) or new_status(f"partition-{partition}", now_ms, None)
    entry.partition = partition
    alert_key = AlertKey(AlertType.INGESTION_STALLED, entry.site_id)
    tracked = entry.alerts.setdefault(
        alert_key.fingerprint,
        TrackedAlert(alert_key, summary=f"most chargers of input partition {partition} went silent at once"),
    )
    offline = len(idx.offline_since)
    ongoing = (
        tracked.state.phase in ("pending", "firing") and offline >= rt.live_rules.storm_share * idx.chargers
    )
    observe(tracked.state, storm or ongoing, now_ms, rt.alert_rules)
    due = due_notices(entry, now_ms, rt.alert_rules)
    charger_statuses.set(key, entry)
    return due


async def publish(rt: Runtime, notices: list[tuple[TrackedAlert, Any]]) -> None:
    """State changes to the alerts topic and history; everything to Alertmanager."""
    if not notices:
        return
    records = [codec.alert_record(t, n) for t, n in notices if n.kind != "renotify"]
    for r in records:
        await emit(alerts, key=r["fingerprint"].encode(), value=orjson.dumps(r))
        metrics.alerts.labels(r["type"], r["status"]).inc()
    await rt.store.write_alerts(records)
    now = _now_ms()
    payloads = [alertmanager_payload(t.key, n, now, rt.alert_rules, summary=t.summary) for t, n in notices]
    if not await rt.alertmanager.post(payloads):
        metrics.alertmanager_failures.inc()


def _now_ms() -> int:
    return int(time.time() * 1000)


@app.timer(interval=settings.tick_interval_seconds)
async def send_ticks() -> None:
    """The clock, as messages on our own partitions: table writes need a current event,
    and a timer has none (faust-streaming), so silence is found in the tick's handler."""
    value = orjson.dumps({"now_ms": _now_ms()})
    for partition in assigned_input_partitions():
        await emit(ticks, value=value, partition=partition)
