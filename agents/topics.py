"""Every topic and table the agents use, declared once from settings.

All values are raw bytes: decoding happens in our code, so a bad message becomes a
dead letter instead of an exception inside Faust (which would ack and skip it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import faust

from . import codec, held_state
from .app import STAGE1_QUEUE_EVENTS, app
from .config import get_settings
from .decoded_table import DecodedTable
from .domain.charger import ChargerState
from .domain.charger_status import ChargerStatus
from .held_state import HeldTable
from .kafka_clients import confluent_config
from .metrics import metrics
from .output_producer import OutputProducer

settings = get_settings()
RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
RAW_TABLE: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # bytes types mean the raw codec

# Stage 1 reads every input topic and the clock ticks, all co-partitioned by charger; its
# queue is shorter than the others' (agents/app.py).
charger_input = app.topic(
    *settings.meter_topics, *settings.status_topics, settings.ticks_topic, maxsize=STAGE1_QUEUE_EVENTS, **RAW
)
ticks = app.topic(settings.ticks_topic, partitions=settings.topic_partitions, **RAW)
alerts = app.topic(settings.alerts_topic, **RAW)
site_contributions = app.topic(settings.site_contributions_topic, partitions=settings.topic_partitions, **RAW)
site_power = app.topic(settings.site_power_topic, **RAW)
site_availability = app.topic(settings.site_availability_topic, **RAW)
site_status = app.topic(settings.site_status_topic, **RAW)
connector_status = app.topic(settings.connector_status_topic, **RAW)
connector_state = app.topic(settings.connector_state_topic, **RAW)
port_uptime = app.topic(settings.port_uptime_topic, **RAW)
# Both stages' agents take one event per fetched batch (agents/consumer.py); stage 1 gets
# its input topics' records of a partition merged in timestamp order (the ticks, stamped on
# the wall clock, come apart).
app.batched_topics = frozenset((*charger_input.topics, *site_contributions.topics))
app.time_ordered_topics = (*settings.meter_topics, *settings.status_topics)


def _table(name: str) -> HeldTable:
    return cast(HeldTable, app.Table(name, partitions=settings.topic_partitions, **RAW_TABLE))


# Stage 1: charger id -> ChargerState; input partition -> watermark (largest received_at).
charger_state = _table("charger-state")
input_watermarks = _table("input-watermarks")
charger_status = _table("charger-status")
# Stage 2: site id -> SiteEntry; partition of the contributions topic -> input watermarks.
site_state = _table("site-state")
site_watermarks = _table("site-watermarks")
# The large values, read and written decoded (agents/decoded_table.py).
charger_states = DecodedTable[ChargerState](
    charger_state,
    lambda key, raw: codec.decode_charger(raw),
    codec.encode_charger,
    keep=settings.decoded_chargers,
)
charger_statuses = DecodedTable[ChargerStatus | None](
    charger_status,
    lambda key, raw: codec.decode_status(raw, key.decode()),
    lambda s: codec.encode_status(_some(s)),
    keep=settings.decoded_chargers,
)
site_entries = DecodedTable[codec.SiteEntry](
    site_state, lambda key, raw: codec.decode_site(raw, key.decode()), codec.encode_site
)
held_state.decoded_views.extend((charger_states, charger_statuses, site_entries))  # encoded at commits
# What each stage's agent writes: its changes are settled when each of its events ends.
CHARGER_TABLES = (charger_states, charger_statuses, charger_state, input_watermarks, charger_status)
SITE_TABLES = (site_entries, site_state, site_watermarks)


def _some(status: ChargerStatus | None) -> ChargerStatus:
    assert status is not None, "a status is written only once there is one"
    return status


@functools.cache
def outputs() -> OutputProducer:
    config = confluent_config(settings, {"linger.ms": settings.produce_linger_ms})
    return OutputProducer(config, stall_s=settings.produce_stall_seconds)


async def emit(
    topic: faust.TopicT,
    *,
    value: bytes,
    key: bytes | None = None,
    partition: int | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
) -> None:
    """Send to an output or internal topic, counted per topic (records out): to the
    producer now (agents/output_producer.py), not held until the commit as Faust's sends
    are; every commit first waits until they are all in Kafka, and only then sends the
    table state that follows from them (agents/held_state.py)."""
    name = topic.get_topic_name()
    await outputs().produce(name, key=key, value=value, partition=partition, headers=headers)
    metrics.records_out.labels(name).inc()


async def _outputs_delivered() -> None:
    await outputs().flush()


held_state.before_commit.append(_outputs_delivered)
held_state.changelog_out = outputs


def dead_letter_topic(source: str) -> faust.TopicT:
    return app.topic(source + settings.dead_letter_suffix, **RAW)
