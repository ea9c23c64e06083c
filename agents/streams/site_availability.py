"""Stage 2, availability: connector and liveness changes keyed by site -> ports per class
now (compacted topic + table), the site_no_available_connector alert, and closed
availability windows and NEVI figures, folded when the input watermarks pass a window
edge (so windows close on the clock through the watermark timer, with no new data).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from agents import held_state, records
from agents.codec import SiteEntry
from agents.domain.alerts import AlertKey, AlertType, observe, tick
from agents.domain.availability import Interval
from agents.domain.charger_status import TrackedAlert
from agents.domain.site_timeline import (
    Change,
    FoldRules,
    apply_change,
    current_counts,
    fold,
    no_port_in_service,
    site_totals,
)
from agents.metrics import metrics
from agents.runtime import Runtime, runtime
from agents.streams.status import publish
from agents.topics import (
    emit,
    port_uptime,
    settings,
    site_availability,
    site_entries,
    site_status,
)

log = logging.getLogger(__name__)
WINDOWS_MS = tuple(w * 1000 for w in settings.availability_windows_seconds)
Notices = list[tuple[TrackedAlert, Any]]


async def on_change(
    rt: Runtime, partition: int, change: Change, progress: dict[str, Any], low_watermark_ms: int
) -> bool:
    """Apply a change; True if the site now has an alert to watch on ``progress`` ticks."""
    key = change.site_id.encode()
    entry = site_entries.get(key)
    entry.partition = partition
    if not apply_change(entry.timeline, change):
        metrics.status_changes.labels("late").inc()
        if settings.trace_processing:
            log.info("change late: %s at %d, folded to %d", change, change.ts_ms, entry.timeline.folded_to)
    notices = await _current(rt, entry, change.site_id, change.ts_ms, low_watermark_ms)
    site_entries.set(key, entry)
    await publish(rt, notices)
    watching = entry.alert is not None and entry.alert.state.phase != "inactive"
    if watching and change.site_id not in progress.setdefault("alerting", []):
        progress["alerting"].append(change.site_id)
        return True
    return False


async def _current(rt: Runtime, entry: SiteEntry, site_id: str, at_ms: int, low_watermark_ms: int) -> Notices:
    """Publish the ports per class if they changed; feed the site alert its condition."""
    counts = current_counts(entry.timeline)
    if counts == entry.counts:
        return []
    entry.counts = counts
    offline = sum(ch.latest_offline for ch in entry.timeline.chargers.values())
    metrics.sites.set_status(site_id, entry.partition, {cls.value: n for cls, n in counts.items()}, offline)
    record = records.site_status_record(site_id, counts, at_ms)
    await emit(site_status, key=site_id.encode(), value=orjson.dumps(record))
    status_rows.put(site_id, record)
    if entry.alert is None:
        alert_key = AlertKey(AlertType.SITE_NO_AVAILABLE_CONNECTOR, site_id)
        entry.alert = TrackedAlert(alert_key, summary=f"no connector in service at {site_id}")
    observe(entry.alert.state, no_port_in_service(counts), at_ms, rt.alert_rules)
    return _due(rt, entry, low_watermark_ms)


async def _write_status(latest: list[dict[str, Any]]) -> None:
    rows = [records.site_status_row(r) for r in latest]
    await (await runtime()).store.write_rows("site_status", rows)


# Site -> its newest site_status record. The topic gets every change; the table's row
# (ports per class now) is refreshed once per commit with the newest, as the open
# site_power_1m rows are: a row per change was a fifth of the statements Cassandra took
# (bench/RESULTS.md).
status_rows: held_state.NewestAtCommit[str, dict[str, Any]] = held_state.NewestAtCommit(_write_status)


def _due(rt: Runtime, entry: SiteEntry, low_watermark_ms: int) -> Notices:
    """The site alert advanced to the low watermark of its input partitions, not to the wall
    clock: a site's chargers sit on several partitions, read with skew (a backlog after a
    restart, one partition's batch before another's). Until every partition has passed a
    moment, a change of another charger at or before it may still come and end the
    condition; judged on the wall clock, such a transient fired at once."""
    assert entry.alert is not None
    notice = tick(entry.alert.state, low_watermark_ms, rt.alert_rules)
    return [] if notice is None else [(entry.alert, notice)]


async def on_progress(rt: Runtime, partition: int, low_watermark_ms: int, progress: dict[str, Any]) -> None:
    """The input watermarks moved: tick the sites with live alerts; fold if a window edge passed."""
    watching = []
    for site_id in progress.get("alerting", []):
        key = site_id.encode()
        entry = site_entries.get(key)
        if entry.alert is None:
            continue
        notices = _due(rt, entry, low_watermark_ms)
        if notices:
            site_entries.set(key, entry)
            await publish(rt, notices)
        if entry.alert.state.phase != "inactive":
            watching.append(site_id)
    progress["alerting"] = watching

    edge = low_watermark_ms - rt.rules.grace_ms
    until = edge - edge % WINDOWS_MS[0]
    if until > progress.get("avail_through", 0):
        progress["avail_through"] = until
        await _fold_partition(rt, partition, until)


async def _fold_partition(rt: Runtime, partition: int, until_ms: int) -> None:
    for key in site_entries.known_keys():
        seen = site_entries.peek(key)
        if seen.partition != partition or not seen.timeline.chargers:
            continue
        entry = site_entries.get(key)
        site_id = key.decode()
        closed, uptimes = fold(entry.timeline, until_ms, _rules(site_id))
        site_entries.set(key, entry)
        now = _wall_ms()
        for (length, start), a in site_totals(closed).items():
            ports = sum(1 for w in closed if (w.length_ms, w.availability.window_start) == (length, start))
            r = records.site_availability_record(site_id, length, a, ports)
            await emit(site_availability, key=key, value=orjson.dumps(r))
            await rt.store.write_rows("site_availability", [records.site_availability_row(r)])
            metrics.availability_windows.labels(str(length // 1000)).inc()
        min_ms = settings.connector_availability_min_window_seconds * 1000
        await rt.store.write_rows(
            "connector_availability",
            [records.connector_availability_row(site_id, w) for w in closed if w.length_ms >= min_ms],
        )
        nevi = [records.port_uptime_record(site_id, u, now) for u in uptimes]
        for r in nevi:
            await emit(port_uptime, key=records.port_uptime_key(r), value=orjson.dumps(r))
        await rt.store.write_rows("port_uptime", [records.port_uptime_row(r) for r in nevi])


def _rules(site_id: str) -> FoldRules:
    exclusions = [x for x in settings.uptime_exclusions if x.site_id in (None, site_id)]

    def excluded(charger_id: str) -> list[Interval]:
        return [x.interval_ms() for x in exclusions if x.applies_to(site_id, charger_id)]

    return FoldRules(WINDOWS_MS, settings.uptime_unavailable_excluded, excluded)


def _wall_ms() -> int:
    return int(time.time() * 1000)
