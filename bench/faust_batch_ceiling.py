"""Ceiling (d1b): d1's counting agent on chargestream's consumer.

The same Faust agent that only counts raw bytes (bench/faust_ceiling.py), but on the
consumer chargestream's worker runs on (agents/consumer.py, agents/held_state.py): one
stream event per fetched batch, the input topics merged by timestamp per partition, the
offsets committed through the records each event settled, at the fetch size and queue
size of chargestream's input agent (stage 1). What Faust costs once the batch change is
in: the part of a's CPU per event that is the framework's and not chargestream's own work.
Prints one JSON line as d1 does.
"""

from __future__ import annotations

import sys
from typing import Any

from agents.app import STAGE1_QUEUE_EVENTS, STREAM_QUEUE_EVENTS, ChargestreamApp
from agents.config import get_settings
from agents.consumer import batch_records, batches
from agents.held_state import settled, unsettled
from bench.faust_app import RAW_TOPIC, RawCount, ceiling_conf, run_worker
from bench.self_measuring import parser


def main(argv: list[str] | None = None) -> int:
    p = parser()
    p.add_argument("--data-dir", required=True)
    args = p.parse_args(argv)
    settings = get_settings()
    topics = args.topics.split(",")

    app = ChargestreamApp(
        args.group,
        **ceiling_conf(args),
        # As chargestream's worker (agents/app.py)
        stream_buffer_maxsize=STREAM_QUEUE_EVENTS,
        broker_max_poll_records=settings.batch_max_records,
        broker_commit_interval=settings.commit_interval_seconds,
    )
    app.batched_topics = frozenset(topics)
    app.time_ordered_topics = tuple(topics)
    topic = app.topic(*topics, maxsize=STAGE1_QUEUE_EVENTS, **RAW_TOPIC)
    counted = RawCount(args.events)

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for batch in batches(stream):  # one per partition and fetch
            async with settled(batch):
                for msg in unsettled(batch_records(batch)):
                    counted.add(msg.value)
            counted.exit_when_done()

    run_worker(app)
    return 1


if __name__ == "__main__":
    sys.exit(main())
