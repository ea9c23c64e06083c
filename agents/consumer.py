"""Faust's aiokafka consumer, made to read every record of its partitions once per owner.

Faust's consumer (faust-streaming 0.15) lost input records after a rebalance in two ways:

- **Partitions with no committed offset were not rewound.** After each rebalance Faust
  seeks the assigned partitions to their committed offsets, through aiokafka's
  ``seek_to_committed``, which seeks only partitions whose committed offset is above 0: one
  with no commit yet (or a commit at 0) keeps the position its fetcher had, after records
  it fetched but never processed. Such partitions now start where a new consumer would
  (``consumer_auto_offset_reset``, earliest here) or at the commit at 0.
- **Records fetched before a seek were delivered after it.** Faust hands a fetched batch
  to the streams record by record, skipping partitions that are paused meanwhile. When a
  partition is paused or sought while its batch is handed over (both happen in table
  recovery after every rebalance), the rest of the batch still reached the streams once
  the partition was resumed. Faust's read position was back at the committed offset by
  then, so the first such record looked like a jump ahead, the records in between counted
  as a gap (Faust's allowance for compacted and transactional topics), and the next commit
  passed over them: dozens of MeterValues per partition were never processed after a
  second worker joined and left. Here a partition's records are dropped when it was paused
  or sought after their batch was fetched, and the partitions are sought to their
  committed offsets again (a batch fetched while a seek ran may be read past it already).

And one crash: Faust's livelock detector reads each partition's position, which aiokafka
asserts is known; it is not while the partition waits for an offset reset (just after
``seek_to_beginning``), and the assertion took the whole consumer down. Such a partition
is skipped in that round.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

log = logging.getLogger(__name__)


class RewindingConsumer(aiokafka_driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._moves = 0  # pauses and seeks of stream partitions so far
        # partition -> the number of its last pause or seek (aiokafka's TopicPartition and
        # Faust's TP are equal tuples, so either finds the other)
        self._moved: dict[TP, int] = {}
        self._batch_after = 0  # the moves done before the batch now handed over was fetched

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed: Mapping[Any, int] = await super().seek_to_committed()
        # Table changelogs are not committed: Faust's recovery seeks those itself.
        unseeked = [tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)]
        if unseeked and self.app.conf.consumer_auto_offset_reset == "earliest":
            await self._thread.seek_to_beginning(*unseeked)
        self._moving(committed)  # after the seek: a fetch begun before it may predate it
        return committed

    async def _seek(self, partition: TP, offset: int) -> None:
        await super()._seek(partition, offset)
        self._moving([partition])

    def verify_event_path(self, now: float, tp: TP) -> None:
        try:
            super().verify_event_path(now, tp)
        except AssertionError:  # aiokafka: position unknown, an offset reset is pending
            log.debug("%s awaits an offset reset; not checked for livelock this round", tp)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        super().pause_partitions(tps)
        self._moving(tps)

    def _moving(self, partitions: Iterable[TP]) -> None:
        self._moves += 1
        for tp in partitions:
            if not self._is_changelog_tp(tp):  # table recovery positions these itself
                self._moved[tp] = self._moves

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        self._batch_after = self._moves  # taken before the fetch: a move meanwhile makes it stale
        return await super()._getmany(active_partitions, timeout)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        stale = False
        async for tp, message in super().getmany(timeout):
            # Per record, so the lookup only when something moved since the fetch (rare).
            if self._moves != self._batch_after and self._moved.get(tp, 0) > self._batch_after:
                stale = True
                continue
            yield tp, message
        if stale:
            try:
                await self.perform_seek()
            except Exception as exc:  # a rebalance under way: its recovery seeks again
                log.warning("seek after a stale batch failed (%r); recovery will seek", exc)
