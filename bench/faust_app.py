"""What the bench's own Faust apps (b, d1) share."""

from __future__ import annotations

import sys
from typing import Any

import faust

# Faust still binds its web server with the web disabled, on every interface by default.
LOOPBACK_ONLY: dict[str, Any] = {"web_enabled": False, "web_bind": "127.0.0.1"}


def run_worker(app: faust.App) -> None:
    """Run ``app`` as Faust's docs run a worker: at log level info. At warn and above Faust
    draws a terminal spinner and logs every debug record to spin it (see QuietWorker in
    agents/app.py), which would slow these apps down for nothing."""
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()
