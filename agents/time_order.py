"""The records of one input partition's topics, handed over in timestamp order.

Charger input comes on several topics co-partitioned by charger id (MeterValues,
StatusNotification, TransactionEvent, ...). Kafka orders each topic-partition by offset
only, and the consumer fetches each of them on its own, so in a backlog one topic can be
fetched far ahead of another in event time: a 1.6 StopTransaction read half an hour
before the MeterValues that name its EVSE, a charger's heartbeats before its status.
Handed over topic by topic, what the worker computes would depend on fetch sizes.

As Kafka Streams does for the partitions of one task: records are buffered per
topic-partition and merged by record timestamp (ties: topic order, then offset). A
topic-partition that has records left on the broker but none buffered stops the merge
until its next fetch arrives: what it holds may come first. So that a partition that does
not move (an unreachable leader) cannot stop the rest for good, a group that has waited
``max_wait_s`` for it goes on without it until it delivers again; its records then come
late. Only without it: the merge of the others still stops where one of them runs dry.
(It went on past them too, and in the rebalance fault test a worker's stop found a
partition whose StatusNotification records had not been handed over for a second: its
StopTransaction records went out ahead of the MeterValues before them, and the
transactions' last readings lost their EVSE, 2026-12-07.)

The wait is counted on a clock that runs only while fetches bring records
(``FetchProgress``): a broker that nothing can be fetched from, a restart of the only
one, holds back every topic alike, and going on after it without the stalled topic only
put the others' buffered records out of order. In the broker-restart fault test (down for
~19 s) a StatusNotification partition went on without its MeterValues after 10 s: two
transactions ended on EVSE -1 and three buckets of a site differed (1 run in 13, 2026-12-07).

A topic-partition's records are kept in offset order, each once: records that go back to
an offset already buffered mean the fetcher was sought back (a seek takes effect in the
consumer's thread before the consumer can drop the buffer), and replace what is buffered
from that offset on. Appended after it instead, a batch held some records twice and others
out of order: a status applied again after a newer one became a history row with
``current = false`` (the rebalance stress, 2026-12-06).

Pure: the consumer (agents/consumer.py) feeds it and says what is left on the broker.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")
K = TypeVar("K", bound=Hashable)


class TimeOrder(Generic[K, R]):
    def __init__(
        self,
        timestamp: Callable[[R], float],
        offset: Callable[[R], int],
        max_wait_s: float,
        gave_up: Callable[[Hashable, list[K]], None] = lambda group, keys: None,  # told each time
    ) -> None:
        self._timestamp, self._offset = timestamp, offset
        self.max_wait_s = max_wait_s
        self._gave_up = gave_up
        self._buffers: dict[K, deque[R]] = {}
        self._waiting_since: dict[Hashable, float] = {}  # group -> when it began to wait
        self._group_of: dict[K, Hashable] = {}  # key -> its group, as of its group's last wait
        # Topic-partitions no longer waited for, until they deliver (each is in one group,
        # as its buffer is).
        self._given_up: set[K] = set()

    def add(self, key: K, records: Sequence[R]) -> None:
        """Records of one topic-partition, in offset order: after those added before, or,
        when they go back, in place of those buffered from their first offset on."""
        buffer = self._buffers.setdefault(key, deque())
        if records and buffer:
            first = self._offset(records[0])
            while buffer and self._offset(buffer[-1]) >= first:
                buffer.pop()
        buffer.extend(records)

    def drop(self, key: K) -> bool:
        """The topic-partition was sought, paused or revoked: what it buffered is stale.
        Whether it held any records."""
        self._given_up.discard(key)
        # A wait begun before is over: the group may hold nothing now and not be taken
        # again until it resumes, and a start kept from before would give up at once then.
        self._waiting_since.pop(self._group_of.get(key), None)
        return bool(self._buffers.pop(key, None))

    def held(self, key: K) -> int:
        return len(self._buffers.get(key, ()))

    def holding(self) -> list[K]:
        """The topic-partitions with records buffered."""
        return [k for k, b in self._buffers.items() if b]

    def take(
        self, group: Hashable, keys: Sequence[K], more_on_broker: Callable[[K], bool], now: float
    ) -> list[R]:
        """The records of ``keys`` (one group, in topic order) that can go now, merged."""
        buffers = [self._buffers.get(k) for k in keys]
        if not any(buffers):
            self._waiting_since.pop(group, None)
            return []
        stalled = []
        for k, b in zip(keys, buffers, strict=True):
            if b:
                self._given_up.discard(k)  # delivering again
            elif k not in self._given_up and more_on_broker(k):
                stalled.append(k)
        if stalled:
            if group not in self._waiting_since:
                self._group_of.update(dict.fromkeys(keys, group))
            since = self._waiting_since.setdefault(group, now)
            if now - since < self.max_wait_s:
                return []
            self._given_up.update(stalled)
            self._gave_up(group, stalled)
        self._waiting_since.pop(group, None)
        heap = [(self._timestamp(b[0]), i) for i, b in enumerate(buffers) if b]
        heapq.heapify(heap)
        out: list[R] = []
        while heap:
            _, i = heapq.heappop(heap)
            b = buffers[i]
            assert b is not None
            out.append(b.popleft())
            if b:
                heapq.heappush(heap, (self._timestamp(b[0]), i))
            elif more_on_broker(keys[i]):
                break  # its next records may come before the others' next ones
        return out


class FetchProgress:
    """The merge's clock: wall time while fetches bring records, each gap between them
    counted as at most ``max_gap_s``. An outage of every partition (nothing fetched) does
    not count against one partition's wait; a leader unreachable while the others deliver
    does. On a worker whose input is idle, the worker's own clock ticks (a topic fetched
    with the inputs) keep it going, a second or so per tick interval."""

    def __init__(self, now: float, max_gap_s: float = 1.0) -> None:
        self.value = 0.0
        self._at = now
        self._max_gap_s = max_gap_s

    def advance(self, now: float, fetched: bool) -> float:
        """The clock after a fetch that brought records or not."""
        if fetched:
            self.value += min(now - self._at, self._max_gap_s)
            self._at = now
        return self.value
