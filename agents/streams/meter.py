"""Stage 1, meter data: OCPP meter messages -> sample history + site bucket contributions."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from faust.types import TP

from agents import codec, held_state
from agents.app import app
from agents.domain import meter as meter_domain
from agents.domain.buckets import BucketRules
from agents.domain.charger import apply_meter_message
from agents.domain.envelope import Envelope
from agents.domain.errors import Reason, Rejected
from agents.metrics import metrics
from agents.reading_clock import ReadingClock
from agents.registry import UNASSIGNED_SITE
from agents.runtime import built, runtime
from agents.sinks.dead_letter import dead_letter_headers
from agents.sinks.timeseries import StoreError
from agents.streams.stage2_outbox import to_stage2
from agents.topics import (
    charger_states,
    dead_letter_topic,
    emit,
    input_watermarks,
    settings,
    site_contributions,
)
from agents.views import unprocessed

log = logging.getLogger(__name__)
RATED_MARGIN = 1.1  # meters and nameplates disagree by a few percent
METER_ACTIONS = frozenset({"MeterValues", "StartTransaction", "StopTransaction", "TransactionEvent"})

# Per partition, per input topic: the largest received_at seen, and when the last event
# came (on the reading clock: wall time less stalls, see agents/reading_clock.py).
# A partition's watermark is the min over its topics that are active: a topic read
# ahead of another (Faust fetches them independently) must not make the other's
# readings late. A topic drops out of the min when it has nothing left to read and has
# been quiet for idle_partition_seconds. (Indexed by partition first: the watermark is
# taken twice per event, and scanning every topic-partition was ~4 % of the worker.)
_watermarks: dict[int, dict[str, int]] = {}
_last_event_wall: dict[int, dict[str, float]] = {}
_recalled: set[int] = set()  # partitions whose topics are all in _watermarks (see recall)

_clock = ReadingClock()
# A backlog that does not move at all (seen after rebalances before agents/consumer.py)
# would stop the partition's buckets from closing until a restart; after this long its
# records are left to arrive late instead, and chargestream_consumer_lag shows them.
STUCK_BACKLOG_S = 60.0


def _reading_clock() -> float:
    return _clock.read(time.monotonic())


_started_wall = _reading_clock()


async def handle_meter(msg: Any, env: Envelope, quirks: list[str], watermark: int) -> bool:
    """A valid meter-carrying message: history rows, and contributions for stage 2. Whether
    it was processed (not a duplicate, nor dead-lettered)."""
    rt = await runtime()
    info = rt.registry.get(env.charger_id)
    site_id = env.site_id or (info.site_id if info else _unknown_charger())
    rules = rt.rules
    if info is not None and info.rated_power_w:  # a register glitch cannot beat the nameplate
        rules = _rated(rules, info.rated_power_w)
    key = env.charger_id.encode()
    state = charger_states.get(key)
    try:
        readings = meter_domain.readings(env)
        update = apply_meter_message(
            state,
            readings,
            message_id=env.message_id,
            received_at_ms=env.received_at_ms,
            site_id=site_id,
            watermark_ms=watermark,
            rules=rules,
        )
    except Exception as exc:  # a bug of ours: dead-letter the input, keep the worker going
        log.exception("processing %s %s from %s failed", env.ocpp_version, env.action, env.charger_id)
        await dead_letter(msg, Rejected.of(Reason.PROCESSING_ERROR, exc))
        return False
    if update.duplicate:
        metrics.events.labels(msg.topic, "duplicate").inc()
        return False
    charger_states.set(key, state)
    await rt.store.write_samples(update.samples)
    await rt.store.revise_sample_power(update.revisions)
    for c in update.contributions:
        to_stage2(c)
    metrics.events.labels(msg.topic, "processed").inc()
    for q in quirks + [q for r in readings for q in r.quirks]:
        metrics.quirks.labels(q).inc()
    metrics.readings.labels("late").inc(update.late)
    metrics.readings.labels("unresolved_evse").inc(update.unresolved)
    metrics.readings.labels("on_time").inc(len(update.samples) - update.late - update.unresolved)
    return True


@functools.lru_cache(maxsize=256)
def _rated(rules: BucketRules, rated_power_w: float) -> BucketRules:
    """The rules capped at a nameplate; a handful of distinct ones (two dataclass copies per
    message were 3 % of the worker)."""
    return replace(rules, power=replace(rules.power, max_power_w=rated_power_w * RATED_MARGIN))


def _unknown_charger() -> str:
    metrics.events.labels("registry", "unknown_charger").inc()
    return UNASSIGNED_SITE


_held: dict[int, int] = {}  # partition -> the watermark to publish while a batch is in flight


@contextmanager
def in_flight(partition: int) -> Iterator[None]:
    """While a batch of the partition is processed (it awaits sends and writes, and the
    watermark timer may run meanwhile), publish the watermark from before it: stage 2 must
    not close a bucket ahead of this batch's contributions, sent at its end."""
    _held[partition] = partition_watermark(partition)
    _clock.message_started(time.monotonic())
    try:
        yield
    finally:
        del _held[partition]
        _clock.message_ended(time.monotonic())


def advance(topic: str, partition: int, received_at_ms: int) -> int:
    """The partition's watermark after this event; each topic's part persisted in the changelog."""
    recall(partition)
    _last_event_wall.setdefault(partition, {})[topic] = _reading_clock()
    marks = _watermarks.setdefault(partition, {})
    current = marks.get(topic)
    if current is None:
        current = codec.decode_int(input_watermarks.get(_stored(topic, partition)))
    if received_at_ms > current:
        current = received_at_ms
        input_watermarks[_stored(topic, partition)] = codec.encode_int(current)
    marks[topic] = current
    return partition_watermark(partition)


def _stored(topic: str, partition: int) -> bytes:
    """The input-watermarks table key of one input topic-partition."""
    return f"{topic}/{partition}".encode()


def recall(partition: int) -> None:
    """Before the partition's first event or tick, its input topics that will count in the
    watermark before their own first event: each at its persisted progress, or at 0 when it
    has none but holds records (a backlog not fetched yet), active until quiet for
    idle_partition_seconds. So silence is judged at where the backlog begins, not at the
    wall clock, and a topic Faust happens to fetch first cannot carry the watermark past
    readings of one not fetched yet (they would all be late). An empty topic does not count:
    it would hold the watermark at 0. Must run in a stream (table read)."""
    if partition in _recalled:
        return
    _recalled.add(partition)
    now_wall = _reading_clock()
    marks = _watermarks.setdefault(partition, {})
    for topic in (*settings.meter_topics, *settings.status_topics):
        if topic in marks:
            continue
        stored = input_watermarks.get(_stored(topic, partition))
        if stored is not None or _holds_records(topic, partition):
            marks[topic] = codec.decode_int(stored)
            _last_event_wall.setdefault(partition, {}).setdefault(topic, now_wall)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def _forget_progress(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A partition that comes back may have moved on at another worker, and its silence
    while away was not its topics' silence: recall it afresh from the table then. Kept,
    the old figures made every topic of a returning partition look idle at once, and the
    wall-clock watermark that follows closed its buckets ahead of its backlog."""
    _watermarks.clear()
    _last_event_wall.clear()
    _recalled.clear()


def _holds_records(topic: str, partition: int) -> bool:
    """Whether the input topic-partition has records, as of the consumer's last fetch;
    when that is not known yet, assume it does (the safe side: readings are not judged late)."""
    try:
        high = app.consumer.highwater(TP(topic, partition))
    except Exception:  # not assigned or not fetched yet
        return True
    return high is None or high > 0


def partition_heard(partition: int) -> bool:
    """Whether this worker has had an event of the partition, or waited long enough to know
    it is idle. Until then (just started, maybe a backlog ahead) silence proves nothing."""
    if _last_event_wall.get(partition):
        return True
    return _reading_clock() - _started_wall > settings.idle_partition_seconds


def partition_watermark(partition: int, now_ms: int | None = None) -> int:
    """Min over the partition's active topics (an event within idle_partition_seconds, or
    records left to read or not known yet, and an event within STUCK_BACKLOG_S); with none
    active, the clock less the idle time."""
    now_wall = _reading_clock()
    marks = _watermarks.get(partition, {})
    heard = _last_event_wall.get(partition, {})
    active = [
        wm
        for topic, wm in marks.items()
        if (quiet := now_wall - heard.get(topic, _started_wall)) <= settings.idle_partition_seconds
        # Records left to read, or not known yet (just assigned, not fetched): the silence
        # is ours, not the topic's. But a backlog that does not move at all is not waited
        # for forever (see STUCK_BACKLOG_S).
        or (quiet <= STUCK_BACKLOG_S and unprocessed(topic, partition) != 0)
    ]
    if active:
        return min(active)
    known = max(marks.values(), default=0)
    if now_ms is None:
        return known
    return max(known, now_ms - int(settings.idle_partition_seconds * 1000))


async def dead_letter(msg: Any, rejected: Rejected) -> None:
    headers = dead_letter_headers(
        rejected,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=int(msg.timestamp * 1000) if msg.timestamp else None,
    )
    await emit(dead_letter_topic(msg.topic), key=msg.key, value=msg.value, headers=headers)
    metrics.dead_letters.labels(msg.topic, rejected.reason.value).inc()
    metrics.events.labels(msg.topic, "dead_letter").inc()


async def store_landed() -> None:
    """Before a commit: every row written so far has landed in Cassandra; records whose
    rows were refused become dead letters."""
    rt = built()
    for msg, exc in await rt.store.flush() if rt else ():
        await sink_refused(msg, exc)


held_state.before_commit.append(store_landed)


async def sink_refused(msg: Any, exc: StoreError) -> None:
    """Cassandra refused rows made from this record (an outage would have been waited out):
    keep the record as a dead letter and go on."""
    log.error("%s", exc)
    if msg is None:  # a write outside any record: nothing to keep but the count
        metrics.dead_letters.labels("none", Reason.SINK_REJECTED.value).inc()
        return
    await dead_letter(msg, Rejected(Reason.SINK_REJECTED, str(exc)[:300]))


@app.timer(interval=settings.watermark_interval_seconds)
async def broadcast_watermarks() -> None:
    """Tell every stage-2 partition how far each of our input partitions has got.

    A partition whose topics all had no event for ``idle_partition_seconds`` advances on
    the wall clock, so buckets still close when a whole partition goes quiet.
    """
    now_ms = int(time.time() * 1000)
    for partition in assigned_input_partitions():
        if partition not in _recalled:  # no event or tick yet (tables recovering): nothing known
            continue
        watermark = partition_watermark(partition, now_ms)
        if partition in _held:  # a message is half-way: its contributions are not sent yet
            watermark = min(watermark, _held[partition])
        value = codec.encode_watermark(partition, watermark)
        for q in range(settings.topic_partitions):
            await emit(site_contributions, value=value, partition=q)


def assigned_input_partitions() -> set[int]:
    try:
        assignment = app.consumer.assignment()
    except Exception:  # not started or rebalancing: nothing to report this round
        return set()
    inputs = {*settings.meter_topics, *settings.status_topics}
    return {tp.partition for tp in assignment if tp.topic in inputs}
