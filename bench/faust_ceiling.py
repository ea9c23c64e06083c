"""Ceiling (d1): a Faust agent that only counts raw bytes on the same topics.

What Faust's consumer path costs with no work at all: the framework's ceiling. Prints one
JSON line (events, seconds from the first record to the last, CPU seconds, peak RSS) and
exits at once, without Faust's shutdown (not part of the measurement).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import faust

from bench.faust_app import LOOPBACK_ONLY, run_worker
from bench.self_measuring import parser, result_line


def main(argv: list[str] | None = None) -> int:
    p = parser()
    p.add_argument("--data-dir", required=True)
    args = p.parse_args(argv)

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.data_dir,
        **LOOPBACK_ONLY,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(
        *args.topics.split(","),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    seen = {"n": 0, "bytes": 0, "first": 0.0}

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            if not seen["n"]:
                seen["first"] = time.monotonic()
            seen["n"] += 1
            seen["bytes"] += len(event.message.value or b"")
            if seen["n"] >= args.events:
                line = result_line(int(seen["n"]), time.monotonic() - seen["first"])
                os.write(1, line)  # fd 1: Faust redirects sys.stdout to its log
                os._exit(0)

    run_worker(app)
    return 1


if __name__ == "__main__":
    sys.exit(main())
