"""The output producer's own cost per record, side by side on the local Kafka: records sent
through ``OutputProducer`` (what the worker uses: delivery bookkeeping, records kept until
their report so that a stalled producer can be replaced) against the same records sent
with librdkafka's ``Producer`` directly (a delivery callback, a poll every 64 records, a
flush every few thousand records as at a commit). Rounds alternate; per record, this
process's CPU (librdkafka's threads included) and the ratio. It prints; figures go to
bench/RESULTS.md with the command.

    python -m bench.producer_overhead [--records 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from agents.config import get_settings
from agents.output_producer import POLL_EVERY, OutputProducer

FLUSH_EVERY = 2_000  # records between flushes: about a commit's worth of outputs live
SITES = 500
VALUE = b"x" * 300  # about a site power record


async def through_output_producer(config: dict[str, Any], topic: str, keys: list[bytes]) -> None:
    producer = OutputProducer(config)
    for i, key in enumerate(keys):
        await producer.produce(topic, key=key, value=VALUE)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            await producer.flush()
    await producer.flush()


async def through_librdkafka(config: dict[str, Any], topic: str, keys: list[bytes]) -> None:
    producer = Producer({"partitioner": "murmur2_random", "enable.idempotence": True, **config})
    acked = 0

    def done(err: Any, msg: Any) -> None:
        nonlocal acked
        acked += 1

    for i, key in enumerate(keys):
        producer.produce(topic, key=key, value=VALUE, on_delivery=done)
        if i % POLL_EVERY == 0:
            producer.poll(0)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            while len(producer):
                producer.poll(0)
                await asyncio.sleep(0.005)
    producer.flush(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    s = get_settings()
    config = {"bootstrap.servers": s.kafka_bootstrap, "linger.ms": s.produce_linger_ms}
    topic = f"bench-producer-{os.getpid()}-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 4, 1)])[topic].result(timeout=s.kafka_timeout_seconds)
    keys = [f"site-{i % SITES}".encode() for i in range(args.records)]
    variants = {
        "librdkafka directly (baseline)": through_librdkafka,
        "OutputProducer": through_output_producer,
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                before = time.process_time()
                asyncio.run(variants[name](config, topic, keys))
                cpu[name].append((time.process_time() - before) / args.records * 1e6)
    finally:
        admin.delete_topics([topic])[topic].result(timeout=s.kafka_timeout_seconds)
    print(f"{args.records:,} records a round, {args.rounds} rounds; CPU us per record (median of rounds):")
    for name, figures in cpu.items():
        print(f"| {name} | {statistics.median(figures):.2f} | {', '.join(f'{f:.2f}' for f in figures)} |")
    base, ours = (statistics.median(cpu[n]) for n in variants)
    print(f"OutputProducer / baseline: {ours / base:.2f}")


if __name__ == "__main__":
    main()
