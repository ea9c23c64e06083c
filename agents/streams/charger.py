"""Stage 1: every input message of a charger, and the clock ticks, in one agent.

One agent keeps one writer per charger: meter data, status and liveness of a charger
all arrive on co-partitioned topics keyed by charger id and are handled in order here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import orjson

from agents import codec
from agents.app import app
from agents.consumer import batch_records, batches
from agents.domain.envelope import Envelope, decode
from agents.domain.errors import Reason, Rejected
from agents.domain.validation import validate
from agents.held_state import settled, unsettled
from agents.metrics import metrics
from agents.sinks.timeseries import write_owner
from agents.streams import meter, status
from agents.streams.stage2_outbox import Item, Stage2Outbox, collecting
from agents.topics import CHARGER_TABLES, charger_input, emit, settings, site_contributions

log = logging.getLogger(__name__)


@app.agent(charger_input)
async def charger_stage(stream: faust.StreamT[Any]) -> None:
    async for batch in batches(stream):  # one per partition and fetch (agents/consumer.py)
        outbox = Stage2Outbox(settings.topic_partitions)
        async with settled(batch, *CHARGER_TABLES):
            with meter.in_flight(batch.partition), collecting(outbox):
                for msg in unsettled(batch_records(batch)):
                    await _record(msg)
                await outbox.send(_to_stage2)


async def _to_stage2(partition: int, items: list[Item]) -> None:
    await emit(site_contributions, value=codec.encode_bundle(items), partition=partition)


async def _record(msg: Any) -> None:
    if msg.topic == settings.ticks_topic:
        await status.on_tick(msg.partition, int(orjson.loads(msg.value)["now_ms"]))
        return
    started = time.perf_counter()
    write_owner.set(msg)  # rows refused later, at a commit, are dead-lettered as this record
    try:
        await _process(msg)
    except Exception as exc:  # a bug of ours: the rest of the batch goes on
        log.exception("processing %s[%d]@%d failed", msg.topic, msg.partition, msg.offset)
        await meter.dead_letter(msg, Rejected.of(Reason.PROCESSING_ERROR, exc))
    metrics.processing.labels("charger").observe(time.perf_counter() - started)


async def _process(msg: Any) -> None:
    try:
        env = decode(msg.value or b"", settings.max_message_bytes)
        quirks: list[str] | Rejected = env if isinstance(env, Rejected) else validate(env)
    except Exception as exc:  # a bug of ours met this input: keep it, keep going
        quirks = env = Rejected.of(Reason.PROCESSING_ERROR, exc)
    if isinstance(quirks, Rejected):
        await meter.dead_letter(msg, quirks)
        return
    assert isinstance(env, Envelope)
    if settings.input_until_ms is not None and env.received_at_ms > settings.input_until_ms:
        metrics.events.labels(msg.topic, "beyond_replay_range").inc()
        return
    watermark = meter.advance(msg.topic, msg.partition, env.received_at_ms)
    failed = await status.handle_status(env, msg.partition)
    if failed is not None:
        await meter.dead_letter(msg, Rejected.of(Reason.PROCESSING_ERROR, failed))
        return
    if env.action in meter.METER_ACTIONS:
        if not await meter.handle_meter(msg, env, quirks, watermark):
            # A duplicate (its age counts from its first copy) or a dead letter: no latency.
            return
    elif env.action in status.STATUS_ACTIONS:
        metrics.events.labels(msg.topic, "processed").inc()
        for q in quirks:  # e.g. invalid_error_code: normalised, kept, and counted
            metrics.quirks.labels(q).inc()
    else:
        metrics.events.labels(msg.topic, "ignored").inc()  # valid OCPP, proof of life only
    metrics.event_latency.observe(max(0.0, time.time() - env.received_at_ms / 1000))
