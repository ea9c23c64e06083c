"""An assignment made from metadata without the subscribed topic, redone, on the real local
Kafka with a real aiokafka consumer group (agents/assignment_watch.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.protocol.metadata import MetadataResponse_v0

from agents.assignment_watch import AssignmentWatch

pytestmark = pytest.mark.integration
TIMEOUT_S = 30


class _Watched(ConsumerRebalanceListener):  # type: ignore[misc]
    """Records each assignment and starts the watch on it, as the worker's consumer
    thread does (agents/consumer.py)."""

    def __init__(self, consumer: AIOKafkaConsumer, watch: AssignmentWatch) -> None:
        self.consumer, self.watch = consumer, watch
        self.assigned: list[set[int]] = []

    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.append({tp.partition for tp in assigned})
        self.watch.start(self.consumer, self.consumer._coordinator.generation)


async def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {TIMEOUT_S} s"
        await asyncio.sleep(0.1)


def test_an_assignment_made_without_the_topic_is_redone_once_it_is_listed(
    kafka_bootstrap: str, kafka_topics: Callable[..., str], unique_name: str
) -> None:
    """The broker's answer to a metadata request lacks the topic just before the group's
    first assignment (as Kafka's did just after a SIGSTOP, 2026-12-07), which then holds
    nothing. The watch asks for metadata again; the topic is listed, the coordinator
    rejoins and the partitions are assigned, within seconds (aiokafka's own refresh: 5
    minutes)."""
    topic = kafka_topics("in", partitions=2)

    class ForgetfulBroker(RoundRobinPartitionAssignor):  # type: ignore[misc]
        """Round robin, after an answer without topics, the first time."""

        answered = False

        @classmethod
        def assign(cls, cluster: Any, members: Any) -> Any:
            if not cls.answered:
                cls.answered = True
                brokers = [(b.nodeId, b.host, b.port) for b in cluster.brokers()]
                cluster.update_metadata(MetadataResponse_v0(brokers=brokers, topics=[]))
            return super().assign(cluster, members)

    async def scenario() -> list[set[int]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            group_id=unique_name,
            request_timeout_ms=TIMEOUT_S * 1000,
            partition_assignment_strategy=(ForgetfulBroker,),
        )
        watch = AssignmentWatch()
        listener = _Watched(consumer, watch)
        consumer.subscribe([topic], listener=listener)
        try:
            await asyncio.wait_for(consumer.start(), TIMEOUT_S)  # returns at the first assignment
            await _until(lambda: listener.assigned[-1:] == [{0, 1}], "assignment of the topic")
            return listener.assigned
        finally:
            watch.stop()
            await asyncio.wait_for(consumer.stop(), TIMEOUT_S)

    assigned = asyncio.run(scenario())
    assert ForgetfulBroker.answered and assigned[0] == set() and assigned[-1] == {0, 1}, assigned
