"""A group assignment made without some subscribed topics, noticed and redone.

The group's leader assigns partitions from the broker's metadata as it reads it at that
moment. A topic that the metadata does not list is left out ("Ignoring missing topic"), and
aiokafka otherwise asks for metadata again only every ``metadata_max_age_ms`` (5 minutes),
or when a connection breaks. Kafka resumed after a stop can answer metadata without topics
that exist: with the local Kafka stopped for 8 s just after a worker started, 1 run in 13
got an assignment of nothing and sat idle until that refresh (2026-12-07). Before
``migrate`` created the changelog topics, the same race left them out, and every event
failed on its table and was dead-lettered.

So, much as the Java client asks again soon for topics that a metadata answer lacks, a
member whose subscribed topics are missing from its metadata after an assignment asks for
metadata again, with backoff, until they are listed. On the leader (the member that made
the assignment), aiokafka's coordinator compares the topics' partition counts with those
the assignment was made from, and rejoins the group when they change: the next assignment
has them. On another member the refreshes only bring its own metadata up to date.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
REFRESH_TIMEOUT_S = 30.0


def missing_topics(subscribed: Iterable[str], partitions_of: Callable[[str], object]) -> list[str]:
    """The subscribed topics that the metadata lists no partitions for, sorted."""
    return sorted(topic for topic in subscribed if not partitions_of(topic))


async def refresh_until_listed(
    subscribed: Callable[[], Iterable[str]],
    partitions_of: Callable[[str], object],
    refresh: Callable[[], Awaitable[object]],
    current: Callable[[], bool],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Ask for metadata again (``refresh()``) while subscribed topics are missing from it
    and the assignment is still ``current()``. A topic that is truly gone (deleted) keeps
    this going, at ``MAX_BACKOFF_S``, with a warning each time: the worker reads none of
    it meanwhile."""
    backoff = FIRST_BACKOFF_S
    while current():
        missing = missing_topics(subscribed(), partitions_of)
        if not missing:
            return
        log.warning(
            "%d subscribed topic(s) missing from the broker's metadata after the group's "
            "assignment (%s); asking for metadata again in %.1f s",
            len(missing),
            ", ".join(missing),
            backoff,
        )
        await sleep(backoff)
        try:
            # aiokafka's refresh answers False when no broker answered it
            outcome: object = await asyncio.wait_for(refresh(), timeout=REFRESH_TIMEOUT_S)
        except Exception as exc:  # a timeout: the broker away again
            outcome = exc
        if outcome is not True:
            log.warning("metadata refresh failed (%r); trying again", outcome)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


class AssignmentWatch:
    """The watch of an aiokafka consumer's current assignment: one at a time, started in the
    consumer's event loop when an assignment is made (its rebalance listener's
    ``on_partitions_assigned``), ended by the next or when the consumer stops."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, consumer: Any, generation: int) -> None:
        self.stop()
        client, coordinator = consumer._client, consumer._coordinator
        self._task = asyncio.get_running_loop().create_task(
            refresh_until_listed(
                consumer.subscription,
                client.cluster.partitions_for_topic,
                client.force_metadata_update,
                lambda: coordinator.generation == generation,
            )
        )

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
