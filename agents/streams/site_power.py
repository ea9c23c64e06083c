"""Stage 2, keyed by site: contributions -> site power bucket revisions (topic + Cassandra);
status and liveness changes -> availability (agents/streams/site_availability.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import orjson

from agents import codec, held_state
from agents.app import app
from agents.consumer import batch_records, batches
from agents.domain.buckets import BUCKET_MS, SiteBucket, site_bucket
from agents.domain.site_timeline import Change
from agents.held_state import settled, unsettled
from agents.metrics import metrics
from agents.runtime import runtime
from agents.sinks.timeseries import write_owner
from agents.streams import site_availability
from agents.topics import (
    SITE_TABLES,
    emit,
    settings,
    site_contributions,
    site_entries,
    site_power,
    site_watermarks,
)

log = logging.getLogger(__name__)


@app.agent(site_contributions)
async def site_stage(stream: faust.StreamT[Any]) -> None:
    async for batch in batches(stream):  # one per partition and fetch (agents/consumer.py)
        async with settled(batch, *SITE_TABLES):
            for msg in unsettled(batch_records(batch)):
                await _record(msg)
            if time.monotonic() - _touched.published_at >= settings.site_power_publish_seconds:
                await publish_touched()


class _Touched:
    """Site key -> the open buckets that contributions changed since they were last
    published. Each is computed and published once: at the end of a batch, at most every
    site_power_publish_seconds; before a watermark may finalise it; and before a commit
    takes the state that holds its contributions. Not once per contribution, nor per batch:
    under live traffic a batch holds a few records, and publishing every bucket each batch
    touched was 15 % of the worker (py-spy, bench/RESULTS.md). A consumer sees the newest
    revision either way."""

    def __init__(self) -> None:
        self.buckets: dict[bytes, set[int]] = {}
        self.published_at = 0.0


_touched = _Touched()


async def _record(msg: Any) -> None:
    started = time.perf_counter()
    write_owner.set(msg)  # rows refused later, at a commit, are dead-lettered as this record
    try:
        items = codec.decode_stage2(msg.value)
    except Exception:  # a bug of ours (stage 2 reads only what stage 1 wrote): go on
        items = []
        log.exception("stage 2: %s[%d]@%d undecodable", msg.topic, msg.partition, msg.offset)
        metrics.events.labels(msg.topic, "processing_error").inc()
    for item in items:
        try:
            await _item(msg.partition, item)
        except Exception:  # a bug of ours: the record's other items go on
            log.exception("stage 2: an item of %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
            metrics.events.labels(msg.topic, "processing_error").inc()
    metrics.processing.labels("site").observe(time.perf_counter() - started)


async def _item(partition: int, item: codec.Stage2Item) -> None:
    if isinstance(item, tuple):
        await publish_touched()  # before the watermark finalises any of them
        await _on_watermark(partition, *item)
    elif isinstance(item, Change):
        await _on_change(partition, item)
    else:
        _on_contribution(partition, item)


async def _on_change(partition: int, change: Change) -> None:
    rt = await runtime()
    wkey = str(partition).encode()
    progress, low = _read_progress(wkey)
    if await site_availability.on_change(rt, partition, change, progress, low):
        site_watermarks[wkey] = orjson.dumps(progress)


def _progress(wkey: bytes) -> dict[str, Any]:
    """This partition's stage-2 bookkeeping: input watermarks, what is closed, sites alerting."""
    doc: dict[str, Any] = orjson.loads(site_watermarks.get(wkey) or b'{"wm": {}, "closed_through": 0}')
    return doc


# Partition key -> its bookkeeping as last read for a change: the table's bytes, the doc
# parsed from them and its low watermark. Changes come far more often than the watermark
# records that rewrite it; parsing and taking the low at each was ~2 % of the worker. A
# change writes the doc back whenever it alters it, so new bytes mean a new parse.
_read: dict[bytes, tuple[bytes | None, dict[str, Any], int]] = {}


def _read_progress(wkey: bytes) -> tuple[dict[str, Any], int]:
    raw = site_watermarks.get(wkey)
    kept = _read.get(wkey)
    if raw is None or kept is None or kept[0] is not raw:  # nothing stored: no bytes to know it by
        doc = _progress(wkey)
        kept = _read[wkey] = (raw, doc, _low(doc))
    return kept[1], kept[2]


def _on_contribution(partition: int, c: Any) -> None:
    key = c.site_id.encode()
    entry = site_entries.get(key)
    entry.partition = partition
    if entry.state.add(c):
        _touched.buckets.setdefault(key, set()).add(c.bucket_start)
    elif c.bucket_start < entry.state.final_up_to:
        metrics.late_contributions.inc()
    site_entries.set(key, entry)


async def publish_touched() -> None:
    """The open buckets changed since they were last published (reads state, changes none)."""
    _touched.published_at = time.monotonic()
    if not _touched.buckets:
        return
    touched, _touched.buckets = _touched.buckets, {}
    rt = await runtime()
    buckets = []
    for key, starts in touched.items():
        entry = site_entries.peek(key)
        site_id = key.decode()
        total = rt.registry.connectors_total(site_id)
        buckets += [site_bucket(site_id, entry.state, s, total, final=False) for s in sorted(starts)]
    await _publish(rt, buckets)


held_state.before_take.append(publish_touched)


async def _write_buckets(buckets: list[SiteBucket]) -> None:
    await (await runtime()).store.write_site_buckets(buckets)


# (site, bucket start) -> its newest open revision. The derived topic gets every revision
# as it is published; the table's row of an open bucket is refreshed once per commit: a
# live site is published about once per contribution, and a row per publish was a third of
# the statements Cassandra took (bench/RESULTS.md). Dashboards reading the table see open
# buckets at most a commit interval old (after publish_touched has made the revisions of
# the events committed); final rows are written at once.
open_rows: held_state.NewestAtCommit[tuple[str, int], SiteBucket] = held_state.NewestAtCommit(_write_buckets)


async def _on_watermark(partition: int, input_partition: int, watermark_ms: int) -> None:
    """Record an input partition's progress; finalise what every input partition has passed."""
    rt = await runtime()
    wkey = str(partition).encode()
    doc = _progress(wkey)
    previous = int(doc["wm"].get(str(input_partition), 0))
    if watermark_ms <= previous:
        return
    doc["wm"][str(input_partition)] = watermark_ms
    low = _low(doc)
    # The newest bucket start that is closed at watermark `low`.
    closed_through = (low - rt.rules.grace_ms) // BUCKET_MS * BUCKET_MS - BUCKET_MS
    if closed_through > doc["closed_through"]:
        doc["closed_through"] = closed_through
        await _finalise(rt, partition, low)
    await site_availability.on_progress(rt, partition, low, doc)
    site_watermarks[wkey] = orjson.dumps(doc)


def _low(progress: dict[str, Any]) -> int:
    """The low watermark: how far every input partition has got."""
    return min(int(progress["wm"].get(str(p), 0)) for p in range(settings.topic_partitions))


async def _finalise(rt: Any, partition: int, low_watermark_ms: int) -> None:
    finals: list[SiteBucket] = []
    for key in site_entries.known_keys():
        seen = site_entries.peek(key)
        if seen.partition != partition or not seen.state.due(low_watermark_ms, rt.rules):
            continue
        entry = site_entries.get(key)
        due = entry.state.finalise(low_watermark_ms, rt.rules)
        site_id = key.decode()
        total = rt.registry.connectors_total(site_id)
        finals += [site_bucket(site_id, entry.state, start, total, final=True) for start in due]
        site_entries.set(key, entry)
    await _publish(rt, finals)


async def _publish(rt: Any, buckets: list[SiteBucket]) -> None:
    if not buckets:
        return
    finals = []
    for b in buckets:
        if b.final:  # its row's write timestamp beats the open revisions'
            open_rows.discard((b.site_id, b.bucket_start))
            finals.append(b)
        else:
            open_rows.put((b.site_id, b.bucket_start), b)
    await rt.store.write_site_buckets(finals)
    for b in buckets:
        await emit(site_power, key=b.site_id.encode(), value=codec.site_power_record(b))
        if not b.final:  # the open buckets carry the power now
            metrics.sites.set_power(b.site_id, b.current_power_w)
        metrics.site_buckets.labels(str(b.final).lower()).inc()
