"""Faust's aiokafka consumer, with every assigned partition rewound to its committed offset.

After each rebalance Faust seeks the assigned partitions to their committed offsets, through
aiokafka's ``seek_to_committed``. That seeks only partitions whose committed offset is above
0: one with no commit yet (or a commit at 0) keeps the position its fetcher had. A worker
that read such a partition before the rebalance and gets it back then starts after records
it fetched but never processed (Faust drops the fetched records of a revoked partition), or
after records it processed but never committed; either way nothing of them is committed
again, and the group's lag on that partition never reaches 0. Seen as: two bench workers
that stalled with no input offset committed at all, and sparse input partitions left
unread after a rebalance in the fault test. Such partitions now start where a new consumer
would (``consumer_auto_offset_reset``, earliest here) or at the commit at 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver


class RewindingConsumer(aiokafka_driver.Consumer):
    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed: Mapping[Any, int] = await super().seek_to_committed()
        # Table changelogs are not committed: Faust's recovery seeks those itself.
        unseeked = [tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)]
        if unseeked and self.app.conf.consumer_auto_offset_reset == "earliest":
            await self._thread.seek_to_beginning(*unseeked)
        return committed
