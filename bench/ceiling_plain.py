"""Ceiling (d2): plain Python on the same input, no framework and no sinks.

A confluent-kafka batch consumer, orjson, and a dict aggregation of site power per minute:
what the computation costs in Python with nothing else in the way. Prints one JSON line:
events, seconds from the first record to the last, CPU seconds and peak RSS.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import orjson
from confluent_kafka import Consumer

from bench.naive_power import power_w
from bench.self_measuring import parser, result_line


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    consumer.subscribe(args.topics.split(","))
    sites: dict[tuple[str, int], float] = defaultdict(float)
    seen = 0
    first = 0.0
    deadline = time.monotonic() + 3600
    while seen < args.events and time.monotonic() < deadline:
        batch = consumer.consume(num_messages=10_000, timeout=1.0)
        if batch and not first:
            first = time.monotonic()
        for msg in batch:
            if msg.error():
                continue
            seen += 1
            try:
                doc = orjson.loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                continue
            if not isinstance(doc, dict):
                continue
            minute = int(msg.timestamp()[1] // 60_000)
            sites[(str(doc.get("site_id")), minute)] += power_w(doc.get("payload"))
    seconds = time.monotonic() - first
    consumer.commit(asynchronous=False)
    consumer.close()
    sys.stdout.buffer.write(result_line(seen, seconds, buckets=len(sites)))
    return 0 if seen >= args.events else 1


if __name__ == "__main__":
    sys.exit(main())
