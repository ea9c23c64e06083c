"""Ceiling (d1): a Faust agent that only counts raw bytes on the same topics.

What Faust's consumer path costs with no work at all: the framework's ceiling. Prints one
JSON line (events, seconds from the first record to the last, CPU seconds, peak RSS) and
exits at once, without Faust's shutdown (not part of the measurement).
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from bench.faust_app import RAW_TOPIC, RawCount, ceiling_conf, run_worker
from bench.self_measuring import parser


def main(argv: list[str] | None = None) -> int:
    p = parser()
    p.add_argument("--data-dir", required=True)
    args = p.parse_args(argv)

    app = faust.App(args.group, **ceiling_conf(args))
    topic = app.topic(*args.topics.split(","), **RAW_TOPIC)
    counted = RawCount(args.events)

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            counted.add(event.message.value)
            counted.exit_when_done()

    run_worker(app)
    return 1


if __name__ == "__main__":
    sys.exit(main())
