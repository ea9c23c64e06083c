"""OutputProducer against the real local Kafka: a flush means the records are in Kafka, in
order, on the partitions Faust would pick; a record Kafka refuses fails the flush."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from agents.output_producer import OutputError, OutputProducer

TIMEOUT_S = 30


def read_all(
    bootstrap: str, topic: str, expected: int
) -> list[tuple[int | None, bytes | None, bytes | None]]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}.reader", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    got: list[tuple[int | None, bytes | None, bytes | None]] = []
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < expected and time.monotonic() < deadline:
            for m in consumer.consume(100, timeout=1):
                assert m.error() is None, m.error()
                got.append((m.partition(), m.key(), m.value()))
    finally:
        consumer.close()
    return got


def test_flushed_records_are_in_kafka_in_order_on_murmur2_partitions(
    kafka_bootstrap: str, kafka_topics: Callable[..., str]
) -> None:
    topic = kafka_topics("out", partitions=4)
    producer = OutputProducer({"bootstrap.servers": kafka_bootstrap})

    async def send() -> None:
        for i in range(200):
            await producer.produce(topic, key=f"site-{i % 7}".encode(), value=str(i).encode())
        await producer.produce(topic, value=b"to-2", partition=2)
        await producer.flush()

    asyncio.run(send())
    got = read_all(kafka_bootstrap, topic, 201)
    assert len(got) == 201
    by_key: dict[bytes, list[int]] = {}
    for partition, key, value in got:
        if key is None:
            assert (partition, value) == (2, b"to-2")
            continue
        assert partition == java_partition(key, 4)
        by_key.setdefault(key, []).append(int(value or b""))
    assert all(values == sorted(values) for values in by_key.values())  # order per key kept


def java_partition(key: bytes, partitions: int) -> int:
    """Where Java's (and Faust's) default partitioner puts a key."""
    from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def test_a_record_kafka_refuses_fails_the_flush(
    kafka_bootstrap: str, kafka_topics: Callable[..., str]
) -> None:
    topic = kafka_topics("small", config={"max.message.bytes": "1000"})
    producer = OutputProducer({"bootstrap.servers": kafka_bootstrap})

    async def send() -> None:
        await producer.produce(topic, value=b"x" * 5000)
        await producer.flush()

    with pytest.raises(OutputError, match=topic):
        asyncio.run(send())
