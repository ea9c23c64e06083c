"""Ceiling (d1b): d1's counting agent on chargestream's consumer.

The same Faust agent that only counts raw bytes (bench/faust_ceiling.py), but on the
consumer chargestream's worker runs on (agents/consumer.py, agents/held_state.py): one
stream event per fetched batch, the input topics merged by timestamp per partition, the
offsets committed through the records each event settled, at chargestream's fetch and queue
sizes. What Faust costs once the batch change is in: the part of a's CPU per event that is
the framework's and not chargestream's own work. Prints one JSON line as d1 does.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from agents.app import ChargestreamApp
from agents.config import get_settings
from agents.consumer import batch_records
from agents.held_state import settled, unsettled
from bench.faust_app import LOOPBACK_ONLY, run_worker
from bench.self_measuring import parser, result_line


def main(argv: list[str] | None = None) -> int:
    p = parser()
    p.add_argument("--data-dir", required=True)
    args = p.parse_args(argv)
    settings = get_settings()
    topics = args.topics.split(",")

    app = ChargestreamApp(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.data_dir,
        **LOOPBACK_ONLY,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # As chargestream's worker (agents/app.py)
        stream_buffer_maxsize=64,
        broker_max_poll_records=settings.batch_max_records,
        broker_commit_interval=settings.commit_interval_seconds,
    )
    app.batched_topics = frozenset(topics)
    app.time_ordered_topics = tuple(topics)
    topic = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "bytes": 0, "first": 0.0}

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            batch = event.message  # one per partition and fetch
            async with settled(batch):
                for msg in unsettled(batch_records(batch)):
                    if not seen["n"]:
                        seen["first"] = time.monotonic()
                    seen["n"] += 1
                    seen["bytes"] += len(msg.value or b"")
            if seen["n"] >= args.events:
                line = result_line(int(seen["n"]), time.monotonic() - seen["first"])
                os.write(1, line)  # fd 1: Faust redirects sys.stdout to its log
                os._exit(0)

    run_worker(app)
    return 1


if __name__ == "__main__":
    sys.exit(main())
