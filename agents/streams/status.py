"""Stage 1, status: liveness from every message, connector status and faults, and the
clock ticks that find silence and turn alert conditions into notices."""

from __future__ import annotations

import time
from typing import Any

import orjson

from agents import codec
from agents.app import app
from agents.domain.alerts import AlertKey, AlertType, alertmanager_payload, observe
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
)
from agents.domain.envelope import Envelope
from agents.domain.liveness import is_storm
from agents.domain.status import fault_events, status_events
from agents.metrics import metrics
from agents.registry import UNASSIGNED_SITE
from agents.runtime import Runtime, runtime
from agents.streams.meter import assigned_input_partitions, partition_heard, partition_watermark
from agents.topics import alerts, charger_status, settings, ticks

STATUS_ACTIONS = frozenset({"StatusNotification", "NotifyEvent", "Heartbeat", "BootNotification"})
INGESTION_KEY = b"__ingestion__/"  # per-partition entry holding the ingestion-stalled alert


async def handle_status(env: Envelope, partition: int) -> None:
    """Every valid message: the charger is alive; status messages also change connectors."""
    rt = await runtime()
    key = env.charger_id.encode()
    s = codec.decode_status(charger_status.get(key), env.charger_id)
    if s is None:
        info = rt.registry.get(env.charger_id)
        site = env.site_id or (info.site_id if info else UNASSIGNED_SITE)
        s = new_status(site, env.received_at_ms, info.heartbeat_interval_s if info else None)
    s.partition = partition
    on_message(s, env.charger_id, env.received_at_ms, rt.alert_rules)
    for e in status_events(env):
        if not on_status(s, e, rt.alert_rules):
            metrics.readings.labels("status_out_of_order").inc()
    for f in fault_events(env):
        on_fault(s, f, rt.alert_rules)
    notices = due_notices(s, _now_ms(), rt.alert_rules)
    charger_status[key] = codec.encode_status(s)
    await publish(rt, notices)


async def on_tick(partition: int, now_ms: int) -> None:
    """Find chargers of this partition gone silent; send what alerts are due."""
    rt = await runtime()
    if not partition_heard(partition):
        return
    # While the partition is read behind the clock (a backlog after downtime), silence is
    # judged at the partition's own progress, not at wall-clock time.
    idle_ms = int(settings.idle_partition_seconds * 1000)
    now_eff = min(now_ms, partition_watermark(partition, now_ms) + idle_ms)
    chargers: list[tuple[bytes, ChargerStatus]] = []
    for key, raw in list(charger_status.items()):
        if key.startswith(INGESTION_KEY):
            continue
        s = codec.decode_status(raw, key.decode())
        if s is not None and s.partition == partition:
            chargers.append((key, s))
    silent = [
        (k, s, since) for k, s in chargers if (since := newly_offline(s, now_eff, rt.live_rules)) is not None
    ]
    storm = is_storm(len(silent), len(chargers), rt.live_rules)
    notices = await _ingestion(rt, partition, chargers, storm, now_ms)
    for key, s, since in silent:
        if not storm:  # a storm is our ingestion failing: one alert above, not thousands
            mark_offline(s, key.decode(), since, rt.alert_rules)
    changed = {k for k, _, _ in silent}
    for key, s in chargers:
        due = due_notices(s, now_ms, rt.alert_rules)
        if due or key in changed:
            notices += due
            charger_status[key] = codec.encode_status(s)
    await publish(rt, notices)


async def _ingestion(
    rt: Runtime, partition: int, chargers: list[tuple[bytes, ChargerStatus]], storm: bool, now_ms: int
) -> list[tuple[TrackedAlert, Any]]:
    key = INGESTION_KEY + str(partition).encode()
    entry = codec.decode_status(charger_status.get(key), "") or new_status(
        f"partition-{partition}", now_ms, None
    )
    entry.partition = partition
    alert_key = AlertKey(AlertType.INGESTION_STALLED, entry.site_id)
    tracked = entry.alerts.setdefault(
        alert_key.fingerprint,
        TrackedAlert(alert_key, summary=f"most chargers of input partition {partition} went silent at once"),
    )
    offline = sum(1 for _, s in chargers if s.liveness.offline_since_ms is not None)
    ongoing = tracked.state.phase in ("pending", "firing") and offline >= rt.live_rules.storm_share * len(
        chargers
    )
    observe(tracked.state, storm or ongoing, now_ms, rt.alert_rules)
    due = due_notices(entry, now_ms, rt.alert_rules)
    charger_status[key] = codec.encode_status(entry)
    return due


async def publish(rt: Runtime, notices: list[tuple[TrackedAlert, Any]]) -> None:
    """State changes to the alerts topic and history; everything to Alertmanager."""
    if not notices:
        return
    records = [codec.alert_record(t, n) for t, n in notices if n.kind != "renotify"]
    for r in records:
        await alerts.send(key=r["fingerprint"].encode(), value=orjson.dumps(r))
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
        await ticks.send(value=value, partition=partition)
