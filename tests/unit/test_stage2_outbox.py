"""Stage 1's per-batch outbox to stage 2 (agents/streams/stage2_outbox.py)."""

from __future__ import annotations

import asyncio

from aiokafka.partitioner import murmur2

from agents.domain.buckets import Contribution
from agents.domain.site_timeline import Change
from agents.streams.stage2_outbox import Item, Stage2Outbox, partition_of


def contribution(site: str, evse: str, bucket: int, readings: int) -> Contribution:
    return Contribution(site, bucket, evse, readings, float(readings), (), None, True)


def sent(outbox: Stage2Outbox) -> dict[int, list[Item]]:
    out: dict[int, list[Item]] = {}

    async def emit(partition: int, items: list[Item]) -> None:
        out[partition] = items

    asyncio.run(outbox.send(emit))
    return out


def test_partition_is_the_one_a_record_keyed_by_the_site_goes_to() -> None:
    for site in ("SITE-0000", "SITE-0001", "unassigned", "Zürich-7"):
        key = site.encode()
        assert partition_of(site, 8) == (murmur2(key) & 0x7FFFFFFF) % 8  # Kafka's Java client


def test_items_go_per_partition_in_order_and_the_outbox_empties() -> None:
    box = Stage2Outbox(4)
    change = Change("S1", "CP-1", 1_000, offline=True)
    items: list[Item] = [contribution("S1", "CP-1/1", 0, 2), change, contribution("S2", "CP-2/1", 0, 2)]
    for i in items:
        box.add(i)
    got = sent(box)
    assert sorted(i for q in got.values() for i in map(repr, q)) == sorted(map(repr, items))
    for q, part in got.items():
        assert all(partition_of(i.site_id, 4) == q for i in part)
    s1 = got[partition_of("S1", 4)]
    assert s1.index(change) > s1.index(items[0])
    assert sent(box) == {}


def test_of_an_evses_contributions_to_a_bucket_the_one_from_most_readings_goes() -> None:
    box = Stage2Outbox(2)
    box.add(contribution("S1", "CP-1/1", 0, 2))
    box.add(contribution("S1", "CP-1/1", 60_000, 2))  # another bucket: kept
    box.add(contribution("S1", "CP-1/1", 0, 3))  # more readings: supersedes the first
    box.add(contribution("S1", "CP-1/1", 0, 1))  # fewer (a replay): dropped
    [items] = sent(box).values()
    kept = [(c.bucket_start, c.readings) for c in items if isinstance(c, Contribution)]
    assert kept == [(60_000, 2), (0, 3)]
