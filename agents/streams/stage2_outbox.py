"""What stage 1 sends stage 2, one record per stage-2 partition per batch.

Stage 1 makes a contribution per EVSE per open bucket a reading touches, and a change per
status or liveness fact: about one stage-2 item per input event, each a Kafka record of its
own and a record for stage 2 to read (98,000 records for 100,000 events in the benchmark).
Within a batch, the items bound for one stage-2 partition go out together, at the end of
the batch, as one record; of an EVSE's contributions to one bucket only the one from the
most readings goes (stage 2 keeps that one anyway, ``SiteState.add``).

The partition is the one a keyed record of the site would go to (murmur2, as Kafka's Java
client and librdkafka's ``murmur2_random``), so a site's items keep to the partition whose
table state holds the site, records of older versions included.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from confluent_kafka import cimpl

from agents.domain.buckets import Contribution
from agents.domain.site_timeline import Change

Item = Contribution | Change


@functools.lru_cache(maxsize=65_536)
def partition_of(site_id: str, partitions: int) -> int:
    """The partition a record keyed by the site goes to."""
    return int(cimpl.murmur2(site_id.encode(), partitions))


class Stage2Outbox:
    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._items: dict[int, list[Item | None]] = {}  # stage-2 partition -> items in order
        # (site, EVSE, bucket) -> where in its partition's items the contribution is
        self._contributions: dict[tuple[str, str, int], int] = {}

    def add(self, item: Item) -> None:
        q = partition_of(item.site_id, self._partitions)
        items = self._items.setdefault(q, [])
        if isinstance(item, Contribution):
            key = (item.site_id, item.evse_key, item.bucket_start)
            at = self._contributions.get(key)
            if at is not None:
                old = items[at]
                assert isinstance(old, Contribution)
                if old.readings > item.readings:
                    return
                items[at] = None  # superseded: this one goes in at its own place
            self._contributions[key] = len(items)
        items.append(item)

    async def send(self, emit: Callable[[int, list[Item]], Awaitable[Any]]) -> None:
        """Each partition's items, as one record; then empty."""
        for q, items in self._items.items():
            await emit(q, [i for i in items if i is not None])
        self._items.clear()
        self._contributions.clear()


_current: ContextVar[Stage2Outbox | None] = ContextVar("stage2_outbox", default=None)


@contextmanager
def collecting(outbox: Stage2Outbox) -> Iterator[Stage2Outbox]:
    """Around one stage-1 batch: ``to_stage2`` adds to this outbox."""
    token = _current.set(outbox)
    try:
        yield outbox
    finally:
        _current.reset(token)


def to_stage2(item: Item) -> None:
    outbox = _current.get()
    assert outbox is not None, "stage-2 items are made within a stage-1 batch"
    outbox.add(item)
