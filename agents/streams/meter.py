"""Stage 1: meter-carrying OCPP messages -> sample history + site bucket contributions."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import faust

from agents import codec
from agents.app import app
from agents.domain import meter as meter_domain
from agents.domain.charger import apply_meter_message
from agents.domain.envelope import Envelope, decode
from agents.domain.errors import Reason, Rejected
from agents.domain.validation import validate
from agents.metrics import metrics
from agents.registry import UNASSIGNED_SITE
from agents.runtime import runtime
from agents.sinks.dead_letter import dead_letter_headers
from agents.topics import (
    charger_state,
    dead_letter_topic,
    input_watermarks,
    meter_input,
    settings,
    site_contributions,
)

log = logging.getLogger(__name__)
RATED_MARGIN = 1.1  # meters and nameplates disagree by a few percent
METER_ACTIONS = frozenset({"MeterValues", "StartTransaction", "StopTransaction", "TransactionEvent"})

# Per (input topic, partition): the largest received_at seen, and when (wall clock) the
# last event came. A partition's watermark is the min over its topics that are active:
# a topic read ahead of another (Faust fetches them independently) must not make the
# other's readings late. Topics idle for idle_partition_seconds drop out of the min.
_watermarks: dict[tuple[str, int], int] = {}
_last_event_wall: dict[tuple[str, int], float] = {}
_started_wall = time.monotonic()


@app.agent(meter_input)
async def meter_stage(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        await handle(event.message)


async def handle(msg: Any) -> None:
    rt = await runtime()
    env = decode(msg.value or b"", settings.max_message_bytes)
    quirks: list[str] | Rejected = env if isinstance(env, Rejected) else validate(env)
    if isinstance(quirks, Rejected):
        await _dead_letter(msg, quirks)
        return
    assert isinstance(env, Envelope)
    if env.action not in METER_ACTIONS:
        metrics.events.labels(msg.topic, "ignored").inc()
        return
    watermark = _advance(msg.topic, msg.partition, env.received_at_ms)
    info = rt.registry.get(env.charger_id)
    site_id = env.site_id or (info.site_id if info else _unknown_charger())
    rules = rt.rules
    if info is not None and info.rated_power_w:  # a register glitch cannot beat the nameplate
        rules = replace(rules, power=replace(rules.power, max_power_w=info.rated_power_w * RATED_MARGIN))
    key = env.charger_id.encode()
    state = codec.decode_charger(charger_state.get(key))
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
        await _dead_letter(msg, Rejected(Reason.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"[:300]))
        return
    if update.duplicate:
        metrics.events.labels(msg.topic, "duplicate").inc()
        return
    charger_state[key] = codec.encode_charger(state)
    await rt.store.write_samples(update.samples)
    for c in update.contributions:
        await site_contributions.send(key=c.site_id.encode(), value=codec.encode_contribution(c))
    metrics.events.labels(msg.topic, "processed").inc()
    for q in quirks + [q for r in readings for q in r.quirks]:
        metrics.quirks.labels(q).inc()
    metrics.readings.labels("late").inc(update.late)
    metrics.readings.labels("unresolved_evse").inc(update.unresolved)
    metrics.readings.labels("on_time").inc(len(update.samples) - update.late - update.unresolved)


def _unknown_charger() -> str:
    metrics.events.labels("registry", "unknown_charger").inc()
    return UNASSIGNED_SITE


def _advance(topic: str, partition: int, received_at_ms: int) -> int:
    """The partition's watermark after this event; each topic's part persisted in the changelog."""
    tp = (topic, partition)
    _last_event_wall[tp] = time.monotonic()
    current = _watermarks.get(tp)
    if current is None:
        current = codec.decode_int(input_watermarks.get(f"{topic}/{partition}".encode()))
    if received_at_ms > current:
        current = received_at_ms
        input_watermarks[f"{topic}/{partition}".encode()] = codec.encode_int(current)
    _watermarks[tp] = current
    return _partition_watermark(partition)


def _partition_watermark(partition: int, now_ms: int | None = None) -> int:
    """Min over the partition's active topics; with none active, the clock less the idle time."""
    now_wall = time.monotonic()
    mine = [(tp, wm) for tp, wm in _watermarks.items() if tp[1] == partition]
    active = [
        wm
        for tp, wm in mine
        if now_wall - _last_event_wall.get(tp, _started_wall) <= settings.idle_partition_seconds
    ]
    if active:
        return min(active)
    known = max((wm for _, wm in mine), default=0)
    if now_ms is None:
        return known
    return max(known, now_ms - int(settings.idle_partition_seconds * 1000))


async def _dead_letter(msg: Any, rejected: Rejected) -> None:
    headers = dead_letter_headers(
        rejected,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=int(msg.timestamp * 1000) if msg.timestamp else None,
    )
    await dead_letter_topic(msg.topic).send(key=msg.key, value=msg.value, headers=headers)
    metrics.dead_letters.labels(msg.topic, rejected.reason.value).inc()
    metrics.events.labels(msg.topic, "dead_letter").inc()


@app.timer(interval=settings.watermark_interval_seconds)
async def broadcast_watermarks() -> None:
    """Tell every stage-2 partition how far each of our input partitions has got.

    A partition whose topics all had no event for ``idle_partition_seconds`` advances on
    the wall clock, so buckets still close when a whole partition goes quiet.
    """
    now_ms = int(time.time() * 1000)
    for partition in _assigned_input_partitions():
        value = codec.encode_watermark(partition, _partition_watermark(partition, now_ms))
        for q in range(settings.topic_partitions):
            await site_contributions.send(value=value, partition=q)


def _assigned_input_partitions() -> set[int]:
    try:
        assignment = app.consumer.assignment()
    except Exception:  # not started or rebalancing: nothing to report this round
        return set()
    return {tp.partition for tp in assignment if tp.topic in settings.meter_topics}
