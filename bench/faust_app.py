"""What the bench's own Faust apps (b, d1) share."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import faust

from bench.self_measuring import result_line

# Faust still binds its web server with the web disabled, on every interface by default.
LOOPBACK_ONLY: dict[str, Any] = {"web_enabled": False, "web_bind": "127.0.0.1"}
RAW_TOPIC: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


def ceiling_conf(args: argparse.Namespace) -> dict[str, Any]:
    """The app settings the ceilings (d1, d1b) share beside their group: broker and data dir,
    from the first record, no web server."""
    return {
        "broker": f"kafka://{args.bootstrap}",
        "store": "memory://",
        "datadir": args.data_dir,
        **LOOPBACK_ONLY,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
    }


class RawCount:
    """What a ceiling counts: records and their bytes, timed from the first. Once ``events``
    are in, ``exit_when_done`` writes the result line and exits at once, without Faust's
    shutdown (not part of the measurement)."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.n = self.bytes = 0
        self.first = 0.0

    def add(self, value: bytes | None) -> None:
        if not self.n:
            self.first = time.monotonic()
        self.n += 1
        self.bytes += len(value or b"")

    def exit_when_done(self) -> None:
        if self.n >= self.events:
            # fd 1: Faust redirects sys.stdout to its log
            os.write(1, result_line(self.n, time.monotonic() - self.first))
            os._exit(0)


def run_worker(app: faust.App) -> None:
    """Run ``app`` as Faust's docs run a worker: at log level info. At warn and above Faust
    draws a terminal spinner and logs every debug record to spin it (see QuietWorker in
    agents/app.py), which would slow these apps down for nothing."""
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()
