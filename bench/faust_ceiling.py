"""Ceiling (d1): a Faust agent that only counts raw bytes on the same topics.

What Faust's consumer path costs with no work at all: the framework's ceiling. Prints one
JSON line (events, seconds from the first record to the last, CPU seconds, peak RSS) and
exits at once, without Faust's shutdown (not part of the measurement).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from typing import Any

import faust
import orjson


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topics", required=True, help="comma-separated")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--data-dir", required=True)
    args = p.parse_args(argv)

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.data_dir,
        web_enabled=False,
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
                usage = resource.getrusage(resource.RUSAGE_SELF)
                out = {
                    "events": seen["n"],
                    "seconds": time.monotonic() - seen["first"],
                    "cpu_seconds": usage.ru_utime + usage.ru_stime,
                    "peak_rss_mib": usage.ru_maxrss / 1024,
                }
                os.write(1, orjson.dumps(out) + b"\n")  # fd 1: Faust redirects sys.stdout to its log
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
    return 1


if __name__ == "__main__":
    sys.exit(main())
