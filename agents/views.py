"""The worker's HTTP endpoints (on Faust's web server, CHARGESTREAM_WEB_HOST:WEB_PORT) and
the gauges computed for a scrape: /metrics, /healthz (the process serves requests),
/readyz (partitions assigned, table recovery done, not rebalancing), /debug/consumer (the
consumer's and table recovery's state, agents/consumer_state.py)."""

from __future__ import annotations

from typing import Any, cast

from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from .app import app
from .consumer import RewindingConsumer
from .consumer_state import describe
from .held_state import settled_offsets
from .metrics import metrics
from .topics import settings

# Input topics and the internal stage-2 topic: a backlog on either is lag.
LAGGING_TOPICS = frozenset(
    (*settings.meter_topics, *settings.status_topics, settings.site_contributions_topic)
)


@app.page("/metrics")
async def metrics_view(web: Any, request: Any) -> Any:
    _update_lag()
    return web.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web: Any, request: Any) -> Any:
    assigned = len(app.consumer.assignment()) if app.consumer else 0
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    recovered = recovery.completed.is_set()
    ready = bool(assigned) and recovered and not app.rebalancing
    body = {
        "ready": ready,
        "assigned_partitions": assigned,
        "recovered": recovered,
        "rebalancing": app.rebalancing,
        # Why a worker is not ready: changelog records still to read, and whether it reads.
        "in_recovery": recovery.in_recovery,
        "changelog_records_to_recover": sum(max(0, n) for n in recovery.active_remaining().values()),
    }
    return web.json(body, status=200 if ready else 503)


@app.page("/debug/consumer")
async def consumer_state(web: Any, request: Any) -> Any:
    return web.json(describe(app))


def _update_lag() -> None:
    """Records behind the high watermark, for the input and stage-2 partitions owned now."""
    metrics.consumer_lag.clear()
    if not app.consumer:
        return
    for tp in app.consumer.assignment():
        if tp.topic not in LAGGING_TOPICS:
            continue
        behind = unprocessed(tp.topic, tp.partition)
        if behind is not None:  # not fetched yet: no figure rather than a guess
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(behind)


def unprocessed(topic: str, partition: int) -> int | None:
    """Records of an assigned topic-partition not processed yet, as of the consumer's last
    fetch: its high watermark less the next offset to process (after the last one
    processed here, or where this assignment began to read when none was: records fetched
    but waiting in a batch or a stream queue are not processed). None when not known (not
    assigned, not fetched yet)."""
    if not app.consumer:
        return None
    tp = TP(topic, partition)
    try:
        high = app.consumer.highwater(tp)
    except Exception:  # not assigned
        return None
    last = settled_offsets.get((topic, partition))
    done = last + 1 if last is not None else cast(RewindingConsumer, app.consumer).read_from.get(tp)
    if high is None or done is None:
        return None
    return max(0, high - done)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def _forget(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Gauges of partitions now owned by another worker must not linger here."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    stage2 = {tp.partition for tp in revoked if tp.topic == settings.site_contributions_topic}
    metrics.sites.forget_partitions(stage2)
